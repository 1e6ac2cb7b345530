"""Guards on our own sample charts: does a chart render what its overlay claims, and nothing more?

`expectation_problems` compares a render with the overlay's `expect:`. `violations` names every
documented restriction the rendered chart trips, so a test can hold each case to its `violates:` list:
a refused case must break exactly the one rule it is about and otherwise be a valid minimal chart,
and its fixed twin (`twin_problems`) must break none.
This judges the sample charts only; it is not a model of any NVCF implementation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from conformance.charts.cases import Case
from conformance.charts.render import Doc, Rendered

RUN_ID_LABEL = "nvcf-conformance.io/run-id"
CASE_LABEL = "nvcf-conformance.io/case"

# The documented allow-list, at the exact versions NVIDIA's validator accepts.
ALLOWED_GVKS = frozenset(
    {
        "v1/ConfigMap",
        "v1/Secret",
        "v1/Service",
        "apps/v1/Deployment",
        "apps/v1/ReplicaSet",
        "apps/v1/StatefulSet",
        "batch/v1/Job",
        "batch/v1/CronJob",
        "v1/Pod",
        "v1/ServiceAccount",
        "rbac.authorization.k8s.io/v1/Role",
        "rbac.authorization.k8s.io/v1/RoleBinding",
        "v1/PersistentVolumeClaim",
    }
)
ALLOWED_KINDS = frozenset(gvk.rsplit("/", 1)[1] for gvk in ALLOWED_GVKS)
MAX_OBJECTS = 300
# NVIDIA's validator reads each document through a 1 MiB + 1 KiB buffer (Source line included).
MAX_DOCUMENT_BYTES = 1_049_600
ALLOWED_VOLUME_SOURCES = frozenset({"configMap", "secret", "persistentVolumeClaim", "emptyDir"})
ALLOWED_PROJECTIONS = frozenset({"configMap", "secret"})
ALLOWED_SECCOMP = frozenset({"RuntimeDefault", "Localhost"})
# The other Pod Security Standards controls, as k8s.io/pod-security-admission v0.36 checks them.
ALLOWED_APPARMOR = frozenset({"RuntimeDefault", "Localhost"})
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"
ALLOWED_SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
        "net.ipv4.tcp_rmem",
        "net.ipv4.tcp_wmem",
    }
)

# Where each pod-bearing kind keeps its pod spec.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


def _dig(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def pod_spec(doc: Doc) -> dict[str, Any] | None:
    path = POD_SPEC_PATHS.get(doc.kind)
    spec = _dig(doc.obj, path) if path else None
    return spec if isinstance(spec, dict) else None


def pod_annotations(doc: Doc) -> dict[str, Any]:
    """Annotations of the pods a workload creates (of the Pod itself for a Pod)."""
    path = POD_SPEC_PATHS.get(doc.kind)
    if not path:
        return {}
    meta = _dig(doc.obj, (*path[:-1], "metadata"))
    return (meta or {}).get("annotations") or {}


def pod_template_labels(doc: Doc) -> dict[str, Any] | None:
    """Labels of the pods a workload creates (None for kinds without a pod template)."""
    path = POD_SPEC_PATHS.get(doc.kind)
    if not path or doc.kind == "Pod":
        return None
    meta = _dig(doc.obj, (*path[:-1], "metadata"))
    return (meta or {}).get("labels") or {}


def service_status(case: Case, rendered: Rendered) -> str:
    """match | name-missing | port-mismatch for the function's helmChartServiceName and inferencePort."""
    svc = rendered.find("Service", case.function.helm_chart_service_name)
    if svc is None:
        return "name-missing"
    ports = (svc.obj.get("spec") or {}).get("ports") or []
    if any(p.get("port") == case.function.inference_port for p in ports):
        return "match"
    return "port-mismatch"


def expectation_problems(case: Case, rendered: Rendered, no_hooks: Rendered | None = None) -> list[str]:
    """Differences between a render (hooks enabled) and the overlay's `expect:`; empty when they agree."""
    exp = case.expect
    problems = []
    if len(rendered.objects) != exp.objects:
        problems.append(f"renders {len(rendered.objects)} non-hook objects, expect.objects is {exp.objects}")
    if rendered.kinds() != exp.kinds:
        problems.append(
            f"renders kinds {sorted(rendered.kinds().items())}, expect.kinds is {sorted(exp.kinds.items())}"
        )
    if rendered.hook_kinds() != exp.hooks:
        problems.append(
            f"renders hooks {sorted(rendered.hook_kinds().items())}, expect.hooks is {sorted(exp.hooks.items())}"
        )
    gvks = rendered.gvks()
    for gvk, count in exp.gvks.items():
        if gvks.get(gvk, 0) != count:
            problems.append(f"renders {gvks.get(gvk, 0)} of {gvk}, expect.gvks says {count}")
    status = service_status(case, rendered)
    if status != exp.service:
        problems.append(f"mini-service Service check gives {status}, expect.service is {exp.service}")
    if no_hooks is not None:
        if no_hooks.hooks:
            problems.append(f"--no-hooks still renders hooks: {[d.source for d in no_hooks.hooks]}")
        if len(no_hooks.objects) != exp.objects:
            problems.append(f"--no-hooks renders {len(no_hooks.objects)} objects, expect.objects is {exp.objects}")
    return problems


def label_problems(case: Case, rendered: Rendered, run_id: str) -> list[str]:
    """Objects (hooks and CRDs included) and pod templates that lack the run-id or case label."""
    wanted = {RUN_ID_LABEL: run_id, CASE_LABEL: case.id}
    problems = []

    def check(where: str, labels: dict[str, Any]) -> None:
        for key, value in wanted.items():
            if str(labels.get(key)) != value:
                problems.append(f"{where}: label {key}={labels.get(key)!r}, want {value!r}")

    for doc in rendered.docs:
        if doc.kind == "List":  # a List has no labels of its own; its items do
            for i, item in enumerate(doc.obj.get("items") or []):
                meta = item.get("metadata") or {}
                check(f"{doc.source} items[{i}] {item.get('kind')}/{meta.get('name')}", meta.get("labels") or {})
            continue
        check(f"{doc.source} {doc.kind}/{doc.name}", doc.labels)
        template_labels = pod_template_labels(doc)
        if template_labels is not None:
            check(f"{doc.source} {doc.kind}/{doc.name} pod template", template_labels)
    return problems


def _containers(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key in ("initContainers", "containers"):
        yield from spec.get(key) or []


def _pod_violations(spec: dict[str, Any], annotations: dict[str, Any]) -> set[str]:
    found = set()
    for flag, tag in (
        ("hostNetwork", "security-host-network"),
        ("hostPID", "security-host-pid"),
        ("hostIPC", "security-host-ipc"),
    ):
        if spec.get(flag) is True:
            found.add(tag)
    if spec.get("automountServiceAccountToken") is True:
        found.add("security-automount-token")
    pod_sc = spec.get("securityContext") or {}
    for volume in spec.get("volumes") or []:
        sources = {k for k in volume if k != "name"}
        if sources <= ALLOWED_VOLUME_SOURCES and len(sources) == 1:
            continue
        if sources == {"projected"}:
            projections = (volume["projected"] or {}).get("sources") or []
            if all(set(p) <= ALLOWED_PROJECTIONS for p in projections):
                continue
        found.add("volume-type")
    if any((s or {}).get("name") not in SAFE_SYSCTLS for s in pod_sc.get("sysctls") or []):
        found.add("security-sysctls")
    if pod_sc.get("runAsUser") == 0:
        found.add("security-run-as-user")
    found |= _profile_violations(pod_sc)
    if any(key.startswith(APPARMOR_ANNOTATION_PREFIX) and not _apparmor_annotation_allowed(str(value))
           for key, value in annotations.items()):
        found.add("security-apparmor")
    for container in _containers(spec):
        found |= _container_violations(container, pod_sc)
    return found


def _apparmor_annotation_allowed(value: str) -> bool:
    return value in ("", "runtime/default") or value.startswith("localhost/")


def _profile_violations(sc: dict[str, Any]) -> set[str]:
    """Baseline's AppArmor and SELinux controls, on a pod's or a container's securityContext."""
    found = set()
    apparmor = sc.get("appArmorProfile")
    if apparmor is not None and (apparmor or {}).get("type") not in ALLOWED_APPARMOR:
        found.add("security-apparmor")
    selinux = sc.get("seLinuxOptions") or {}
    if selinux.get("type", "") not in ALLOWED_SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
        found.add("security-selinux")
    return found


def _container_violations(container: dict[str, Any], pod_sc: dict[str, Any]) -> set[str]:
    found = set()
    sc = container.get("securityContext") or {}
    limits = (container.get("resources") or {}).get("limits") or {}
    if not {"cpu", "memory"} <= set(limits):
        found.add("security-limits")
    privileged = sc.get("privileged") is True
    if privileged:
        found.add("security-privileged")
    escalation = sc.get("allowPrivilegeEscalation")
    if escalation is True:
        found.add("security-privilege-escalation")
    elif escalation is None and not privileged:
        # Kubernetes refuses privileged beside allowPrivilegeEscalation false: a privileged
        # container's escalation is security-privileged's to answer for.
        found.add("security-privilege-escalation-unset")
    caps = sc.get("capabilities") or {}
    if [c for c in caps.get("add") or [] if c != "NET_BIND_SERVICE"]:
        found.add("security-capabilities")
    if "ALL" not in [str(c).upper() for c in caps.get("drop") or []]:
        found.add("security-capabilities-drop")
    seccomp = sc.get("seccompProfile") or pod_sc.get("seccompProfile")
    if seccomp is None:
        found.add("security-seccomp-unset")
    elif seccomp.get("type") not in ALLOWED_SECCOMP:
        found.add("security-seccomp")
    non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
    if non_root is not True:
        found.add("security-run-as-non-root")
    if sc.get("runAsUser") == 0:
        found.add("security-run-as-user")
    if sc.get("procMount") not in (None, "Default"):
        found.add("security-proc-mount")
    found |= _profile_violations(sc)
    if any((p or {}).get("hostPort") for p in container.get("ports") or []):
        found.add("security-host-port")
    if any(_handler_host(container.get(key)) for key in PROBES) or any(
            _handler_host(handler) for handler in (container.get("lifecycle") or {}).values()):
        found.add("security-probe-host")
    return found


def _handler_host(handler: Any) -> bool:
    """Whether a probe or lifecycle handler names a host (Baseline wants it unset or empty)."""
    handler = handler or {}
    return any((handler.get(kind) or {}).get("host") for kind in ("httpGet", "tcpSocket"))


def violations(case: Case, rendered: Rendered, rerender: Callable[[str, str], Rendered] | None = None) -> set[str]:
    """Every restriction (an `overlay.schema.json` `violates` tag) the rendered chart trips.

    `rerender(release, namespace)` renders the chart again under other names; it tells a templated
    Service name from a plainly wrong one and is only called when the Service is missing.
    """
    found: set[str] = set()
    if "-" in case.chart_version:
        found.add("chart-version-dash")
    if re.search(r"[^a-z0-9-]", case.chart_name):
        found.add("chart-name-symbol")
    if rendered.hooks:
        found.add("hook")
    if len(rendered.objects) > MAX_OBJECTS:
        found.add("object-count")
    for doc in rendered.objects:
        if doc.size > MAX_DOCUMENT_BYTES:
            found.add("object-size")
        if doc.kind == "List":
            found.add("kind-list")
        elif doc.kind == "CustomResourceDefinition":
            found.add("crd")
        elif doc.gvk not in ALLOWED_GVKS:
            found.add("api-version" if doc.kind in ALLOWED_KINDS else "forbidden-kind")
        if doc.kind == "Service" and (doc.obj.get("spec") or {}).get("type") not in (None, "", "ClusterIP"):
            found.add("service-type")
        spec = pod_spec(doc)
        if spec is not None:
            found |= _pod_violations(spec, pod_annotations(doc))
    status = service_status(case, rendered)
    if status == "port-mismatch":
        found.add("service-port-mismatch")
    elif status == "name-missing":
        names = {d.name for d in rendered.objects if d.kind == "Service"}
        other = rerender("another-release", "another-namespace") if rerender else None
        templated = other is not None and {d.name for d in other.objects if d.kind == "Service"} != names
        found.add("service-name-templated" if templated else "service-name-mismatch")
    return found


def twin_problems(twin: Case, rendered: Rendered, rerender: Callable[[str, str], Rendered] | None = None) -> list[str]:
    """Why a fixed twin is not the conformant chart it claims to be (empty: it breaks no restriction).

    Together with its case breaking exactly its one rule, this is the static half of the proof that
    the case is refused for that rule alone.
    """
    trips = violations(twin, rendered, rerender)
    if not trips:
        return []
    return [f"the fixed twin of {twin.twin_of} still breaks {', '.join(sorted(trips))} (fix: {twin.fix})"]
