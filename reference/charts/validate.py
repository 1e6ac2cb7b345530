"""Judge rendered objects against every documented restriction of helm-based functions.

Each breach is a Violation: the catalog rule, the object (`Kind/name`) and template it came from,
and one line saying what is wrong. All checks run and all breaches are returned, so a chart author
sees everything at once. Hooks and CRDs are not judged (NVCF drops them), except by mutants.

`policy` decides the security standards the docs mark "not enforced now": `current` leaves them
alone, `enforced` refuses charts that break them. `violate` switches off exactly the named checks,
and for behaviours that are acceptances (an allowed kind deploys, CRDs are skipped, ...) makes the
matching wrong refusal happen instead: those are the reference server's mutants.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from reference import rules
from reference.charts.objects import (
    Manifest,
    as_dict,
    as_list,
    container_name,
    containers,
    dig,
)
from reference.charts.render import OBJECT_SIZE_LIMIT, Rendered

Policy = Literal["current", "enforced"]
POLICIES: tuple[str, ...] = ("current", "enforced")

ALLOWED_KINDS: frozenset[tuple[str, str]] = frozenset(
    {
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("v1", "Service"),
        ("v1", "Pod"),
        ("v1", "ServiceAccount"),
        ("v1", "PersistentVolumeClaim"),
        ("apps/v1", "Deployment"),
        ("apps/v1", "ReplicaSet"),
        ("apps/v1", "StatefulSet"),
        ("batch/v1", "Job"),
        ("batch/v1", "CronJob"),
        ("rbac.authorization.k8s.io/v1", "Role"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    }
)
_VERSION_OF_KIND = {kind: api for api, kind in ALLOWED_KINDS}
MAX_OBJECTS = 300
ALLOWED_VOLUMES = ("configMap", "secret", "projected", "persistentVolumeClaim", "emptyDir")
ALLOWED_PROJECTIONS = ("configMap", "secret")
ALLOWED_SERVICE_TYPES = ("", "ClusterIP")
# The KIND-ALLOWED mutant refuses every allowed kind the mini-service itself does not need.
_MINI_SERVICE_KINDS = frozenset({"Deployment", "Service"})


def supported_api_version(kind: str) -> str | None:
    """The one API version an allowed kind is accepted at, or None for a kind that is not allowed."""
    return _VERSION_OF_KIND.get(kind)


@dataclass(frozen=True)
class Violation:
    rule: str
    object: str  # `Kind/name`, or "" for a finding about the chart as a whole
    source: str  # the template, as helm's `# Source:` names it
    message: str
    # The `violate` entry that produced this finding, when a mutant did (for the server's logs).
    mutant: str | None = None
    # Where the object is in helm's output (0-based document index) and its apiVersion and kind, so a
    # refusal can be worded as NVIDIA's validator words it (nvidia_texts.py); None for chart findings.
    index: int | None = None
    api_version: str = ""
    kind: str = ""

    def __str__(self) -> str:
        where = f"{self.object} ({self.source}): " if self.object else ""
        return f"{self.rule}: {where}{self.message}"


class _Checker:
    def __init__(self, violate: Collection[str]) -> None:
        self.violate = frozenset(violate)
        self.found: list[Violation] = []

    def on(self, rule: str) -> bool:
        return rule not in self.violate

    def add(self, rule: str, item: Manifest | None, message: str, mutant: str | None = None, *,
            index: int | None = None) -> None:
        if item is None:
            self.found.append(Violation(rule, "", "", message, mutant, index))
            return
        self.found.append(Violation(rule, item.ref, item.source, message, mutant, item.index, item.api_version,
                                    item.kind))


def validate(
    rendered: Rendered,
    *,
    service_name: str,
    inference_port: int,
    policy: Policy = "current",
    violate: Collection[str] = frozenset(),
    max_objects: int = MAX_OBJECTS,
    max_object_bytes: int = OBJECT_SIZE_LIMIT,
) -> list[Violation]:
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    check = _Checker(violate)
    objects = rendered.objects

    for item in objects:
        _check_kind(check, item)
        _check_size(check, item, max_object_bytes)
        _check_service_type(check, item)
        spec = item.pod_spec()
        if spec is not None:
            _check_volumes(check, item, spec)
            _check_security(check, item, spec, policy)
    _check_count(check, rendered, max_objects)
    _check_mini_service(check, objects, service_name, inference_port)
    _mutant_refusals(check, rendered)
    return check.found


# ── kinds, size, count ────────────────────────────────────────────────────────────────────────


def _check_kind(check: _Checker, item: Manifest) -> None:
    if item.in_subchart and not check.on(rules.SUBCHART_FORBIDDEN_KIND_REFUSED):
        return
    gvk = (item.api_version, item.kind)
    if gvk in ALLOWED_KINDS:
        return
    if item.is_list:
        if check.on(rules.KIND_LIST_REFUSED):
            check.add(
                rules.KIND_LIST_REFUSED, item,
                f"kind {item.kind} ({item.api_version}) is refused as a whole; list items are never unpacked",
            )
        return
    if item.kind in _VERSION_OF_KIND:
        if check.on(rules.KIND_API_VERSION_REFUSED):
            check.add(
                rules.KIND_API_VERSION_REFUSED, item,
                f"{item.kind} at API version {item.api_version or '(none)'} is not supported;"
                f" only {_VERSION_OF_KIND[item.kind]} is",
            )
        return
    if check.on(rules.KIND_FORBIDDEN):
        check.add(rules.KIND_FORBIDDEN, item, _forbidden_kind_message(item))


def _forbidden_kind_message(item: Manifest) -> str:
    return f"kind {item.kind} ({item.api_version}) is not one of the kinds a helm function may contain"


def _check_size(check: _Checker, item: Manifest, limit: int) -> None:
    if item.size > limit and check.on(rules.OBJECT_SIZE_LIMIT):
        check.add(
            rules.OBJECT_SIZE_LIMIT, item,
            f"is {item.size} bytes as rendered, over the {limit}-byte limit for one object",
        )


def _check_count(check: _Checker, rendered: Rendered, limit: int) -> None:
    objects = rendered.objects
    if not check.on(rules.OBJECTS_OVER_300_REFUSED):
        _check_count_off_by_one(check, rendered, limit)
        return
    mutant = None
    if not check.on(rules.OBJECTS_MAX_300_ACCEPTED):
        limit, mutant = limit - 1, rules.OBJECTS_MAX_300_ACCEPTED
    if len(objects) > limit:
        check.add(
            rules.OBJECTS_OVER_300_REFUSED, None,
            f"the chart renders {len(objects)} objects, more than the limit of {limit}"
            " (hooks and CustomResourceDefinitions not counted)",
            mutant, index=objects[limit].index,
        )


def _check_count_off_by_one(check: _Checker, rendered: Rendered, limit: int) -> None:
    """The OBJECTS-OVER-300-REFUSED mutant counts as NVIDIA's validator does (HR/reval/serialize.go):
    every document of the release manifest (CRDs and documents that are no object included, hooks
    not), refused only once a document's 0-based index exceeds the limit, so 301 pass and the 302nd
    is refused. Helm prints hooks after the manifest, so indices here are the manifest's."""
    indexed = [item.index for item in (*rendered.objects, *rendered.crds)]
    if indexed and max(indexed) > limit:
        check.add(
            rules.OBJECTS_OVER_300_REFUSED, None,
            f"the chart renders {max(indexed) + 1} documents, more than the limit of {limit} (plus one)",
            rules.OBJECTS_OVER_300_REFUSED, index=limit + 1,
        )


# ── services ──────────────────────────────────────────────────────────────────────────────────


def _service_type(item: Manifest) -> str:
    value = dig(item.obj, "spec", "type")
    return value if isinstance(value, str) else ""


def _check_service_type(check: _Checker, item: Manifest) -> None:
    if item.kind != "Service":
        return
    kind = _service_type(item)
    if kind not in ALLOWED_SERVICE_TYPES and check.on(rules.SVC_TYPE_FORBIDDEN):
        check.add(rules.SVC_TYPE_FORBIDDEN, item, f"Service type {kind} is not allowed; only ClusterIP or no type")


def _check_mini_service(check: _Checker, objects: list[Manifest], name: str, port: int) -> None:
    services = [o for o in objects if o.kind == "Service" and o.api_version == "v1"]
    target = next((s for s in services if s.name == name), None)
    if target is None:
        if check.on(rules.SVC_NAME_MISMATCH_REFUSED):
            names = ", ".join(sorted(s.name for s in services)) or "none"
            check.add(
                rules.SVC_NAME_MISMATCH_REFUSED, None,
                f"helmChartServiceName '{name}' names no Service the chart renders (rendered Services: {names})",
            )
        return
    ports = [p.get("port") for p in as_list(dig(target.obj, "spec", "ports")) if isinstance(p, dict)]
    if port not in ports and check.on(rules.SVC_PORT_MISMATCH_REFUSED):
        shown = ", ".join(str(p) for p in ports) or "none"
        check.add(
            rules.SVC_PORT_MISMATCH_REFUSED, target,
            f"Service '{name}' does not expose inferencePort {port} (its ports: {shown})",
        )


# ── volumes ───────────────────────────────────────────────────────────────────────────────────


def _volume_sources(volume: dict[str, Any]) -> list[str]:
    return [key for key in volume if key != "name"]


def _check_volumes(check: _Checker, item: Manifest, spec: dict[str, Any]) -> None:
    for volume in as_list(spec.get("volumes")):
        if not isinstance(volume, dict):
            continue
        vname = volume.get("name") or "(unnamed)"
        # A volume with no source at all is defaulted to emptyDir by the API server: allowed.
        for source in _volume_sources(volume):
            if source not in ALLOWED_VOLUMES:
                if check.on(rules.VOL_FORBIDDEN):
                    check.add(
                        rules.VOL_FORBIDDEN, item,
                        f"volume '{vname}' is of type {source}; allowed types are {', '.join(ALLOWED_VOLUMES)}",
                    )
                continue
            if not check.on(rules.VOL_ALLOWED):
                check.add(
                    rules.VOL_FORBIDDEN, item, f"volume '{vname}' is of type {source}, which is not allowed",
                    rules.VOL_ALLOWED,
                )
            if source == "projected":
                _check_projection(check, item, vname, volume)


def _check_projection(check: _Checker, item: Manifest, vname: str, volume: dict[str, Any]) -> None:
    if not check.on(rules.VOL_PROJECTED_SOURCE_FORBIDDEN):
        return
    for projection in as_list(dig(volume, "projected", "sources")):
        for kind in as_dict(projection):
            if kind not in ALLOWED_PROJECTIONS:
                check.add(
                    rules.VOL_PROJECTED_SOURCE_FORBIDDEN, item,
                    f"projected volume '{vname}' has a {kind} source; only configMap and secret sources are allowed",
                )


# ── security standards ────────────────────────────────────────────────────────────────────────


def _security_rule(check: _Checker, enforced_rule: str, policy: Policy) -> tuple[str, str | None] | None:
    """The rule id to report under, and the mutant behind it, when this check runs at all."""
    if policy == "enforced":
        return (enforced_rule, None) if check.on(enforced_rule) else None
    current = rules.SEC_CURRENT_OF[enforced_rule]
    return None if check.on(current) else (current, current)


def _check_security(check: _Checker, item: Manifest, spec: dict[str, Any], policy: Policy) -> None:
    for enforced_rule, finder in _SECURITY_CHECKS:
        active = _security_rule(check, enforced_rule, policy)
        if active is None:
            continue
        rule, mutant = active
        for message in finder(spec, item):
            check.add(rule, item, message, mutant)


def _limits_missing(spec: dict[str, Any], item: Manifest) -> Iterator[str]:
    for field, container in containers(spec):
        if field == "ephemeralContainers":
            continue  # ephemeral containers cannot carry resources
        limits = as_dict(dig(container, "resources", "limits"))
        missing = [r for r in ("cpu", "memory") if limits.get(r) in (None, "")]
        if missing:
            yield f"container '{container_name(container)}' has no {' and no '.join(missing)} limit"


def _host_namespaces(spec: dict[str, Any], item: Manifest) -> Iterator[str]:
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key) is True:
            yield f"pod spec sets {key}: true"


def _run_as_non_root(spec: dict[str, Any], item: Manifest) -> Iterator[str]:
    pod_level = dig(spec, "securityContext", "runAsNonRoot")
    for _, container in containers(spec):
        own = dig(container, "securityContext", "runAsNonRoot")
        effective = own if own is not None else pod_level
        if effective is not True:
            said = "sets runAsNonRoot: false" if effective is False else "does not set runAsNonRoot: true"
            yield f"container '{container_name(container)}' {said} (neither itself nor its pod)"


def _automount(spec: dict[str, Any], item: Manifest) -> Iterator[str]:
    if spec.get("automountServiceAccountToken") is True:
        yield "pod spec sets automountServiceAccountToken: true"


def _privilege(spec: dict[str, Any], item: Manifest) -> Iterator[str]:
    for _, container in containers(spec):
        name = container_name(container)
        context = as_dict(container.get("securityContext"))
        if context.get("privileged") is True:
            yield f"container '{name}' is privileged"
        if context.get("allowPrivilegeEscalation") is True:
            yield f"container '{name}' sets allowPrivilegeEscalation: true"
        added = [c for c in as_list(dig(context, "capabilities", "add")) if c != "NET_BIND_SERVICE"]
        if added:
            yield f"container '{name}' adds capabilities {', '.join(str(c) for c in added)}"


def _profiles(spec: dict[str, Any], item: Manifest) -> Iterator[str]:
    if dig(spec, "securityContext", "seccompProfile", "type") == "Unconfined":
        yield "pod securityContext sets seccompProfile Unconfined"
    for _, container in containers(spec):
        if dig(container, "securityContext", "seccompProfile", "type") == "Unconfined":
            yield f"container '{container_name(container)}' sets seccompProfile Unconfined"


# The Pod Security Standards' other controls, with the values k8s.io/pod-security-admission v0.36 allows.
_ALLOWED_APPARMOR = ("RuntimeDefault", "Localhost")
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
_ALLOWED_SELINUX_TYPES = ("", "container_t", "container_init_t", "container_kvm_t", "container_engine_t")
_SAFE_SYSCTLS = frozenset({
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start", "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",
})


def _security_contexts(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(who, securityContext) for the pod and each of its containers."""
    yield "pod securityContext", as_dict(spec.get("securityContext"))
    for _, container in containers(spec):
        yield f"container '{container_name(container)}'", as_dict(container.get("securityContext"))


def _baseline_other(spec: dict[str, Any], item: Manifest) -> Iterator[str]:
    """AppArmor, SELinux, sysctls and the host of probes and handlers: Baseline controls not named above."""
    for who, context in _security_contexts(spec):
        apparmor = context.get("appArmorProfile")
        if apparmor is not None and as_dict(apparmor).get("type") not in _ALLOWED_APPARMOR:
            yield f"{who} sets appArmorProfile {as_dict(apparmor).get('type')}; only RuntimeDefault or Localhost"
        selinux = as_dict(context.get("seLinuxOptions"))
        if selinux.get("type", "") not in _ALLOWED_SELINUX_TYPES:
            yield f"{who} sets SELinux type {selinux.get('type')}; only the container_* types are allowed"
        for field in ("user", "role"):
            if selinux.get(field):
                yield f"{who} sets an SELinux {field} ({selinux[field]})"
    # The pre-1.30 way to ask for an AppArmor profile.
    annotations = as_dict(dig(item.pod_metadata() or {}, "annotations"))
    for key, value in annotations.items():
        allowed = value in ("", "runtime/default") or str(value).startswith("localhost/")
        if key.startswith(_APPARMOR_ANNOTATION) and not allowed:
            yield f"annotation {key} asks for AppArmor profile {value}"
    for sysctl in as_list(dig(spec, "securityContext", "sysctls")):
        name = as_dict(sysctl).get("name")
        if name not in _SAFE_SYSCTLS:
            yield f"pod securityContext sets sysctl {name}, which is not one of the safe sysctls"
    for _, container in containers(spec):
        handlers = [(probe, container.get(probe)) for probe in _PROBES]
        handlers += [(f"lifecycle {event}", h) for event, h in as_dict(container.get("lifecycle")).items()]
        for where, handler in handlers:
            for kind in ("httpGet", "tcpSocket"):
                host = dig(as_dict(handler), kind, "host")
                if host:
                    yield f"container '{container_name(container)}' {where} {kind} names host {host}"


def _restricted_other(spec: dict[str, Any], item: Manifest) -> Iterator[str]:
    """/proc mount, runAsUser 0, drop ALL, allowPrivilegeEscalation and seccomp set explicitly: Restricted."""
    pod_context = as_dict(spec.get("securityContext"))
    if pod_context.get("runAsUser") == 0:
        yield "pod securityContext sets runAsUser: 0"
    for _, container in containers(spec):
        name = container_name(container)
        context = as_dict(container.get("securityContext"))
        if context.get("procMount") not in (None, "Default"):
            yield f"container '{name}' sets procMount {context.get('procMount')}; only Default is allowed"
        if context.get("runAsUser") == 0:
            yield f"container '{name}' sets runAsUser: 0"
        dropped = [str(c).upper() for c in as_list(dig(context, "capabilities", "drop"))]
        if "ALL" not in dropped:
            yield f"container '{name}' does not drop ALL capabilities"
        # Kubernetes refuses allowPrivilegeEscalation false beside privileged, which SEC-PRIVILEGE refuses.
        if context.get("allowPrivilegeEscalation") is None and context.get("privileged") is not True:
            yield f"container '{name}' does not set allowPrivilegeEscalation: false"
        if context.get("seccompProfile") is None and pod_context.get("seccompProfile") is None:
            yield f"container '{name}' sets no seccompProfile (nor does its pod); RuntimeDefault or Localhost"


def _host_ports(spec: dict[str, Any], item: Manifest) -> Iterator[str]:
    for _, container in containers(spec):
        for port in as_list(container.get("ports")):
            host_port = as_dict(port).get("hostPort")
            if host_port not in (None, 0):
                yield f"container '{container_name(container)}' binds hostPort {host_port}"


_SECURITY_CHECKS = (
    (rules.SEC_LIMITS_ENFORCED, _limits_missing),
    (rules.SEC_HOST_NAMESPACES_ENFORCED, _host_namespaces),
    (rules.SEC_RUN_AS_NON_ROOT_ENFORCED, _run_as_non_root),
    (rules.SEC_AUTOMOUNT_TOKEN_ENFORCED, _automount),
    (rules.SEC_PRIVILEGE_ENFORCED, _privilege),
    (rules.SEC_SECCOMP_ENFORCED, _profiles),
    (rules.SEC_HOST_PORT_ENFORCED, _host_ports),
    (rules.SEC_PSS_BASELINE_OTHER_ENFORCED, _baseline_other),
    (rules.SEC_PSS_RESTRICTED_OTHER_ENFORCED, _restricted_other),
)


# ── mutants that refuse what must be accepted ─────────────────────────────────────────────────


def _mutant_refusals(check: _Checker, rendered: Rendered) -> None:
    if not check.on(rules.KIND_ALLOWED):
        for item in rendered.objects:
            if (item.api_version, item.kind) in ALLOWED_KINDS and item.kind not in _MINI_SERVICE_KINDS:
                check.add(rules.KIND_FORBIDDEN, item, _forbidden_kind_message(item), rules.KIND_ALLOWED)
    if not check.on(rules.SVC_TYPE_CLUSTERIP):
        for item in rendered.objects:
            explicit = _service_type(item) == "ClusterIP" or dig(item.obj, "spec", "clusterIP") == "None"
            if item.kind == "Service" and explicit:
                check.add(
                    rules.SVC_TYPE_FORBIDDEN, item, "Service type ClusterIP is not allowed", rules.SVC_TYPE_CLUSTERIP
                )
    # NVIDIA's own validator judges CRDs as an unsupported kind; this mutant does the same.
    if not check.on(rules.CRD_CHART_DEPLOYS):
        for item in rendered.crds:
            check.add(rules.KIND_FORBIDDEN, item, _forbidden_kind_message(item), rules.CRD_CHART_DEPLOYS)
    if not check.on(rules.HOOK_FORBIDDEN_KIND_IGNORED):
        for item in rendered.hooks:
            if (item.api_version, item.kind) not in ALLOWED_KINDS:
                check.add(
                    rules.KIND_FORBIDDEN, item, _forbidden_kind_message(item), rules.HOOK_FORBIDDEN_KIND_IGNORED
                )
