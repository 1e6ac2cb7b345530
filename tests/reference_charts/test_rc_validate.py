"""Every documented restriction fires on a minimal offending chart and stays silent on a clean one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rc_chartkit import POD_KINDS, RenderFiles, base_templates, container, crd, hook, pod_spec, service, workload

from reference import rules
from reference.charts.render import Rendered
from reference.charts.validate import Violation, validate


def _check(rendered: Rendered, **kwargs: Any) -> list[Violation]:
    kwargs.setdefault("service_name", "mini")
    kwargs.setdefault("inference_port", 8000)
    return validate(rendered, **kwargs)


def _with(**extra: Any) -> dict[str, Any]:
    return {**base_templates(), **extra}


@pytest.mark.parametrize("policy", ["current", "enforced"])
def test_the_clean_chart_has_no_violations(render_files: RenderFiles, policy: str) -> None:
    templates = _with(**{f"extra-{k.lower()}.yaml": workload(k, f"extra-{k.lower()}") for k in POD_KINDS},
                      extra=[{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
                             {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}},
                             {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa"}},
                             {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "pvc"},
                              "spec": {"accessModes": ["ReadWriteOnce"],
                                       "resources": {"requests": {"storage": "1Gi"}}}},
                             {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r"}},
                             {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                              "metadata": {"name": "rb"},
                              "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}},
                             service("headless", clusterIP="None"), service("explicit", type_="ClusterIP")])
    rendered = render_files(templates)
    assert len(rendered.objects) == 16
    assert _check(rendered, policy=policy) == []


# ── kinds ─────────────────────────────────────────────────────────────────────────────────────

FORBIDDEN = [
    {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "x"}},
    {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "x"}},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "x"}},
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}},
    {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "x"}},
    {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "x"}},
    {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "x"}},
]


@pytest.mark.parametrize("obj", FORBIDDEN, ids=[o["kind"] for o in FORBIDDEN])
def test_forbidden_kinds_are_named(render_files: RenderFiles, obj: dict[str, Any]) -> None:
    (found,) = _check(render_files(_with(extra=obj)))
    assert (found.rule, found.object, found.source) == (rules.KIND_FORBIDDEN, f"{obj['kind']}/x",
                                                        "mini/templates/extra")
    assert obj["kind"] in found.message and obj["apiVersion"] in found.message


@pytest.mark.parametrize(("api", "kind"), [("apps/v1beta1", "Deployment"), ("extensions/v1beta1", "ReplicaSet"),
                                           ("batch/v1beta1", "CronJob")])
def test_allowed_kind_at_another_api_version_is_refused(render_files: RenderFiles, api: str, kind: str) -> None:
    (found,) = _check(render_files(_with(extra=workload(kind, "old", api_version=api))))
    assert found.rule == rules.KIND_API_VERSION_REFUSED and found.object == f"{kind}/old"
    assert api in found.message


def test_a_list_is_refused_as_a_whole(render_files: RenderFiles) -> None:
    items = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "inner"}}]
    rendered = render_files(_with(extra={"apiVersion": "v1", "kind": "List", "metadata": {"name": "l"},
                                         "items": items}))
    (found,) = _check(rendered)
    assert found.rule == rules.KIND_LIST_REFUSED and found.object == "List/l"


@pytest.mark.parametrize("type_", ["NodePort", "LoadBalancer", "ExternalName"])
def test_service_types_other_than_clusterip_are_refused(render_files: RenderFiles, type_: str) -> None:
    (found,) = _check(render_files(_with(extra=service("side", type_=type_))))
    assert (found.rule, found.object) == (rules.SVC_TYPE_FORBIDDEN, "Service/side") and type_ in found.message


# ── counts and sizes ──────────────────────────────────────────────────────────────────────────

MANY = (
    "{{- range until (int .Values.n) }}\n---\n"
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{{ . }}\n{{- end }}\n"
)


def test_300_objects_pass_and_301_are_refused(render_files: RenderFiles) -> None:
    hooks_and_crds = {"hook.yaml": hook(workload("Job", "h")), "crd.yaml": crd()}
    at_limit = render_files(_with(**{"many.yaml": MANY}, **hooks_and_crds), configuration={"n": 298})
    assert len(at_limit.objects) == 300 and _check(at_limit) == []  # hooks and CRDs do not count
    over = render_files(_with(**{"many.yaml": MANY}), configuration={"n": 299})
    (found,) = _check(over)
    assert found.rule == rules.OBJECTS_OVER_300_REFUSED and "301" in found.message and "300" in found.message


def test_an_object_over_the_size_limit_is_refused(render_files: RenderFiles) -> None:
    big = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"blob": "x" * 1_049_600}}
    (found,) = _check(render_files(_with(extra=big)))
    assert (found.rule, found.object) == (rules.OBJECT_SIZE_LIMIT, "ConfigMap/big") and "1049600" in found.message
    fits = {**big, "data": {"blob": "x" * 1_048_000}}
    assert _check(render_files(_with(extra=fits))) == []


# ── the mini-service ──────────────────────────────────────────────────────────────────────────


def test_service_name_must_name_a_rendered_service(render_files: RenderFiles) -> None:
    (found,) = _check(render_files(), service_name="entrypoint")
    assert found.rule == rules.SVC_NAME_MISMATCH_REFUSED
    assert "'entrypoint'" in found.message and "mini" in found.message


def test_service_must_expose_the_inference_port(render_files: RenderFiles) -> None:
    (found,) = _check(render_files(), inference_port=8001)
    assert (found.rule, found.object) == (rules.SVC_PORT_MISMATCH_REFUSED, "Service/mini")
    assert "8001" in found.message and "8000" in found.message


def test_a_hook_service_does_not_count_as_the_mini_service(render_files: RenderFiles) -> None:
    rendered = render_files({"deployment.yaml": workload("Deployment", "mini"), "svc.yaml": hook(service())})
    assert [v.rule for v in _check(rendered)] == [rules.SVC_NAME_MISMATCH_REFUSED]


# ── volumes ───────────────────────────────────────────────────────────────────────────────────

ALLOWED_VOLUMES = [
    {"name": "cm", "configMap": {"name": "c"}},
    {"name": "sec", "secret": {"secretName": "s"}},
    {"name": "proj", "projected": {"sources": [{"configMap": {"name": "c"}}, {"secret": {"name": "s"}}]}},
    {"name": "claim", "persistentVolumeClaim": {"claimName": "pvc"}},
    {"name": "scratch", "emptyDir": {}},
]
FORBIDDEN_VOLUMES = [
    {"name": "v", "hostPath": {"path": "/etc"}},
    {"name": "v", "nfs": {"server": "nfs.example", "path": "/"}},
    {"name": "v", "downwardAPI": {"items": []}},
    {"name": "v", "csi": {"driver": "x"}},
    {"name": "v", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}},
    {"name": "v", "gitRepo": {"repository": "x"}},
    {"name": "v", "image": {"reference": "x"}},
]


def test_allowed_volume_types_pass(render_files: RenderFiles) -> None:
    rendered = render_files(_with(extra=workload("Deployment", "vols", pod_spec(volumes=ALLOWED_VOLUMES))))
    assert _check(rendered, policy="enforced") == []


@pytest.mark.parametrize("volume", FORBIDDEN_VOLUMES, ids=[next(iter(set(v) - {"name"})) for v in FORBIDDEN_VOLUMES])
def test_forbidden_volume_types_are_named(render_files: RenderFiles, volume: dict[str, Any]) -> None:
    (found,) = _check(render_files(_with(extra=workload("Deployment", "vols", pod_spec(volumes=[volume])))))
    kind = next(iter(set(volume) - {"name"}))
    assert (found.rule, found.object) == (rules.VOL_FORBIDDEN, "Deployment/vols")
    assert "'v'" in found.message and kind in found.message


@pytest.mark.parametrize("kind", POD_KINDS)
def test_volumes_are_checked_in_every_pod_spec_kind(render_files: RenderFiles, kind: str) -> None:
    spec = pod_spec(volumes=[{"name": "host", "hostPath": {"path": "/"}}])
    (found,) = _check(render_files(_with(extra=workload(kind, "w", spec))))
    assert (found.rule, found.object) == (rules.VOL_FORBIDDEN, f"{kind}/w")


@pytest.mark.parametrize("source", [{"serviceAccountToken": {"path": "t"}}, {"downwardAPI": {"items": []}},
                                    {"clusterTrustBundle": {"path": "b"}}])
def test_projected_sources_other_than_configmap_and_secret_are_refused(
    render_files: RenderFiles, source: dict[str, Any]
) -> None:
    volume = {"name": "proj", "projected": {"sources": [{"configMap": {"name": "c"}}, source]}}
    (found,) = _check(render_files(_with(extra=workload("Pod", "p", pod_spec(volumes=[volume])))))
    assert found.rule == rules.VOL_PROJECTED_SOURCE_FORBIDDEN and next(iter(source)) in found.message


# ── subcharts ─────────────────────────────────────────────────────────────────────────────────


def test_subcharts_are_validated_like_the_parent(render_files: RenderFiles) -> None:
    sub = {"ds.yaml": {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "sub-ds"}},
           "svc.yaml": service("sub-svc", type_="NodePort")}
    found = _check(render_files(subcharts={"helper": sub}))
    assert {(v.rule, v.object, v.source) for v in found} == {
        (rules.KIND_FORBIDDEN, "DaemonSet/sub-ds", "mini/charts/helper/templates/ds.yaml"),
        (rules.SVC_TYPE_FORBIDDEN, "Service/sub-svc", "mini/charts/helper/templates/svc.yaml"),
    }


# ── security standards: silent under `current`, enforced under `enforced` ───────────────────────


def _spec(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    spec = pod_spec()
    change(spec)
    return spec


SECURITY = {
    "no-limits": (rules.SEC_LIMITS_ENFORCED, lambda s: container(s).pop("resources"), "cpu and no memory limit"),
    "no-memory-limit": (rules.SEC_LIMITS_ENFORCED, lambda s: container(s)["resources"]["limits"].pop("memory"),
                        "no memory limit"),
    "host-network": (rules.SEC_HOST_NAMESPACES_ENFORCED, lambda s: s.update(hostNetwork=True), "hostNetwork"),
    "host-pid": (rules.SEC_HOST_NAMESPACES_ENFORCED, lambda s: s.update(hostPID=True), "hostPID"),
    "host-ipc": (rules.SEC_HOST_NAMESPACES_ENFORCED, lambda s: s.update(hostIPC=True), "hostIPC"),
    "non-root-unset": (rules.SEC_RUN_AS_NON_ROOT_ENFORCED, lambda s: s["securityContext"].pop("runAsNonRoot"),
                       "runAsNonRoot"),
    "non-root-false-in-container": (rules.SEC_RUN_AS_NON_ROOT_ENFORCED,
                                    lambda s: container(s)["securityContext"].update(runAsNonRoot=False),
                                    "runAsNonRoot: false"),
    "automount": (rules.SEC_AUTOMOUNT_TOKEN_ENFORCED, lambda s: s.update(automountServiceAccountToken=True),
                  "automountServiceAccountToken"),
    "privileged": (rules.SEC_PRIVILEGE_ENFORCED, lambda s: container(s)["securityContext"].update(privileged=True),
                   "privileged"),
    "escalation": (rules.SEC_PRIVILEGE_ENFORCED,
                   lambda s: container(s)["securityContext"].update(allowPrivilegeEscalation=True),
                   "allowPrivilegeEscalation: true"),
    "capabilities": (rules.SEC_PRIVILEGE_ENFORCED,
                     lambda s: container(s)["securityContext"]["capabilities"].update(add=["SYS_ADMIN"]), "SYS_ADMIN"),
    "seccomp-pod": (rules.SEC_SECCOMP_ENFORCED, lambda s: s["securityContext"].update(
        seccompProfile={"type": "Unconfined"}), "seccompProfile"),
    "seccomp-container": (rules.SEC_SECCOMP_ENFORCED, lambda s: container(s)["securityContext"].update(
        seccompProfile={"type": "Unconfined"}), "seccompProfile"),
    "host-port": (rules.SEC_HOST_PORT_ENFORCED, lambda s: container(s)["ports"][0].update(hostPort=8080), "8080"),
    # The other Pod Security Standards controls.
    "apparmor": (rules.SEC_PSS_BASELINE_OTHER_ENFORCED, lambda s: container(s)["securityContext"].update(
        appArmorProfile={"type": "Unconfined"}), "appArmorProfile Unconfined"),
    "apparmor-pod": (rules.SEC_PSS_BASELINE_OTHER_ENFORCED, lambda s: s["securityContext"].update(
        appArmorProfile={"type": "Unconfined"}), "pod securityContext sets appArmorProfile"),
    "selinux-type": (rules.SEC_PSS_BASELINE_OTHER_ENFORCED, lambda s: container(s)["securityContext"].update(
        seLinuxOptions={"type": "spc_t"}), "SELinux type spc_t"),
    "selinux-user": (rules.SEC_PSS_BASELINE_OTHER_ENFORCED, lambda s: s["securityContext"].update(
        seLinuxOptions={"user": "system_u"}), "SELinux user"),
    "sysctl": (rules.SEC_PSS_BASELINE_OTHER_ENFORCED, lambda s: s["securityContext"].update(
        sysctls=[{"name": "kernel.msgmax", "value": "65536"}]), "sysctl kernel.msgmax"),
    "probe-host": (rules.SEC_PSS_BASELINE_OTHER_ENFORCED, lambda s: container(s).update(
        readinessProbe={"tcpSocket": {"host": "elsewhere.invalid", "port": 8000}}), "readinessProbe tcpSocket"),
    "lifecycle-host": (rules.SEC_PSS_BASELINE_OTHER_ENFORCED, lambda s: container(s).update(
        lifecycle={"preStop": {"httpGet": {"host": "elsewhere.invalid", "port": 8000}}}), "lifecycle preStop"),
    "proc-mount": (rules.SEC_PSS_RESTRICTED_OTHER_ENFORCED, lambda s: container(s)["securityContext"].update(
        procMount="Unmasked"), "procMount Unmasked"),
    "run-as-user-pod": (rules.SEC_PSS_RESTRICTED_OTHER_ENFORCED, lambda s: s["securityContext"].update(runAsUser=0),
                        "runAsUser: 0"),
    "run-as-user-container": (rules.SEC_PSS_RESTRICTED_OTHER_ENFORCED,
                              lambda s: container(s)["securityContext"].update(runAsUser=0), "runAsUser: 0"),
    "no-drop-all": (rules.SEC_PSS_RESTRICTED_OTHER_ENFORCED,
                    lambda s: container(s)["securityContext"].pop("capabilities"), "drop ALL"),
    "escalation-unset": (rules.SEC_PSS_RESTRICTED_OTHER_ENFORCED,
                         lambda s: container(s)["securityContext"].pop("allowPrivilegeEscalation"),
                         "allowPrivilegeEscalation: false"),
    "seccomp-unset": (rules.SEC_PSS_RESTRICTED_OTHER_ENFORCED, lambda s: s["securityContext"].pop("seccompProfile"),
                      "no seccompProfile"),
}


@pytest.mark.parametrize("case", sorted(SECURITY))
def test_security_standards_only_under_the_enforced_policy(render_files: RenderFiles, case: str) -> None:
    rule, change, says = SECURITY[case]
    rendered = render_files(_with(extra=workload("Deployment", "risky", _spec(change))))
    assert _check(rendered, policy="current") == []
    (found,) = _check(rendered, policy="enforced")
    assert (found.rule, found.object) == (rule, "Deployment/risky") and says in found.message


def test_conformant_security_variants_pass_enforcement(render_files: RenderFiles) -> None:
    def per_container_non_root(spec: dict[str, Any]) -> None:
        spec["securityContext"].pop("runAsNonRoot")
        container(spec)["securityContext"]["runAsNonRoot"] = True
        container(spec)["securityContext"]["capabilities"]["add"] = ["NET_BIND_SERVICE"]

    rendered = render_files(_with(extra=workload("Pod", "fine", _spec(per_container_non_root))))
    assert _check(rendered, policy="enforced") == []


def test_allowed_profiles_and_safe_sysctls_pass_enforcement(render_files: RenderFiles) -> None:
    def allowed(spec: dict[str, Any]) -> None:
        spec["securityContext"].update(appArmorProfile={"type": "RuntimeDefault"},
                                       seLinuxOptions={"type": "container_t", "level": "s0:c1,c2"},
                                       sysctls=[{"name": "net.ipv4.ping_group_range", "value": "0 1"}])
        spec["securityContext"].pop("seccompProfile")  # each container sets its own instead
        container(spec)["securityContext"].update(appArmorProfile={"type": "Localhost", "localhostProfile": "p"},
                                                  seccompProfile={"type": "Localhost", "localhostProfile": "s.json"},
                                                  procMount="Default")

    obj = workload("Deployment", "fine", _spec(allowed))
    obj["spec"]["template"]["metadata"]["annotations"] = {
        "container.apparmor.security.beta.kubernetes.io/app": "localhost/p"}
    assert _check(render_files(_with(extra=obj)), policy="enforced") == []


def test_a_privileged_container_without_escalation_set_is_refused_as_privileged_only(
        render_files: RenderFiles) -> None:
    # Kubernetes refuses allowPrivilegeEscalation false beside privileged: unset is its only valid form.
    spec = _spec(lambda s: container(s)["securityContext"].update(privileged=True))
    container(spec)["securityContext"].pop("allowPrivilegeEscalation")
    (found,) = _check(render_files(_with(extra=workload("Pod", "p", spec))), policy="enforced")
    assert found.rule == rules.SEC_PRIVILEGE_ENFORCED


def test_apparmor_unconfined_annotation_is_refused_under_enforcement(render_files: RenderFiles) -> None:
    obj = workload("Deployment", "aa")
    obj["spec"]["template"]["metadata"]["annotations"] = {
        "container.apparmor.security.beta.kubernetes.io/app": "unconfined"}
    (found,) = _check(render_files(_with(extra=obj)), policy="enforced")
    assert found.rule == rules.SEC_PSS_BASELINE_OTHER_ENFORCED and "AppArmor" in found.message


def test_host_path_under_enforcement_is_a_volume_violation_only(render_files: RenderFiles) -> None:
    spec = pod_spec(volumes=[{"name": "host", "hostPath": {"path": "/"}}])
    found = _check(render_files(_with(extra=workload("Pod", "p", spec))), policy="enforced")
    assert [v.rule for v in found] == [rules.VOL_FORBIDDEN]


# ── violate: exactly the named check goes quiet ───────────────────────────────────────────────


def test_violate_disables_exactly_one_check(render_files: RenderFiles) -> None:
    risky = pod_spec(hostNetwork=True, volumes=[{"name": "h", "hostPath": {"path": "/"}}])
    rendered = render_files({
        "deployment.yaml": workload("Deployment", "mini", risky),
        "service.yaml": service(type_="NodePort"),
        "ds.yaml": {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "ds"}},
        "old.yaml": workload("Deployment", "old", api_version="apps/v1beta1"),
        "list.yaml": {"apiVersion": "v1", "kind": "List", "metadata": {"name": "l"}, "items": []},
    })
    everything = _check(rendered, policy="enforced", inference_port=9000)
    rules_found = {v.rule for v in everything}
    assert rules_found == {
        rules.KIND_FORBIDDEN, rules.KIND_API_VERSION_REFUSED, rules.KIND_LIST_REFUSED, rules.SVC_TYPE_FORBIDDEN,
        rules.VOL_FORBIDDEN, rules.SVC_PORT_MISMATCH_REFUSED, rules.SEC_HOST_NAMESPACES_ENFORCED,
    }
    for rule in rules_found:
        quieter = _check(rendered, policy="enforced", inference_port=9000, violate={rule})
        assert quieter == [v for v in everything if v.rule != rule], rule


def test_current_policy_mutants_enforce_early(render_files: RenderFiles) -> None:
    rendered = render_files(_with(extra=workload("Pod", "p", pod_spec(hostPID=True))))
    (found,) = _check(rendered, violate={"SEC-HOST-NAMESPACES-CURRENT"})
    assert found.rule == "SEC-HOST-NAMESPACES-CURRENT" and found.mutant == "SEC-HOST-NAMESPACES-CURRENT"


def test_acceptance_mutants_refuse_what_must_pass(render_files: RenderFiles) -> None:
    rendered = render_files(
        _with(**{"cm.yaml": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
                 "hook.yaml": hook({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "hds"}}),
                 "crd.yaml": crd(),
                 "headless.yaml": service("headless", clusterIP="None"),
                 "vol.yaml": workload("Pod", "p", pod_spec(volumes=[{"name": "e", "emptyDir": {}}]))}),
    )
    assert _check(rendered) == []

    def refused(rule: str) -> set[str]:
        return {v.object for v in _check(rendered, violate={rule}) if v.mutant == rule}

    assert refused(rules.KIND_ALLOWED) == {"ConfigMap/c", "Pod/p"}
    assert refused(rules.HOOK_FORBIDDEN_KIND_IGNORED) == {"DaemonSet/hds"}
    assert refused(rules.CRD_CHART_DEPLOYS) == {"CustomResourceDefinition/widgets.example.com"}
    assert refused(rules.SVC_TYPE_CLUSTERIP) == {"Service/headless"}
    assert refused(rules.VOL_ALLOWED) == {"Pod/p"}


def test_objects_limit_mutant_refuses_exactly_300(render_files: RenderFiles) -> None:
    rendered = render_files(_with(**{"many.yaml": MANY}), configuration={"n": 298})
    (found,) = _check(rendered, violate={rules.OBJECTS_MAX_300_ACCEPTED})
    assert found.rule == rules.OBJECTS_OVER_300_REFUSED and found.mutant == rules.OBJECTS_MAX_300_ACCEPTED


def test_subchart_mutant_exempts_only_subchart_objects(render_files: RenderFiles) -> None:
    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "ds"}}
    rendered = render_files(_with(**{"ds.yaml": ds}), subcharts={"helper": {"ds.yaml": {**ds, "metadata": {
        "name": "sub-ds"}}}})
    found = _check(rendered, violate={rules.SUBCHART_FORBIDDEN_KIND_REFUSED})
    assert [v.object for v in found] == ["DaemonSet/ds"]
