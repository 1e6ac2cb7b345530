"""Security standards (SHOULD): `security-current` — such charts still deploy; `security-enforced` — refused
(naming the field) or deployed with the setting made conformant."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.client import Nonconformant
from conformance.errors import ConformanceError
from conformance.plugin import ChartSet, DeployedFunction, Expect, variants


def _pod_specs(cluster: Any, case: str) -> list[dict[str, Any]]:
    pods = cluster.wait_for("pods", lambda: cluster.pods(case), bool)
    if not pods:
        raise Nonconformant("no pod of the chart runs", "deployed-violating")
    return [p["spec"] for p in pods]


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return list(spec.get("containers") or []) + list(spec.get("initContainers") or [])


def _contexts(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(who, securityContext) of the pod and of each container."""
    return [("the pod", spec.get("securityContext") or {}),
            *((c["name"], c.get("securityContext") or {}) for c in _containers(spec))]


# The other Pod Security Standards controls, with the values Baseline and Restricted allow
# (k8s.io/pod-security-admission v0.36).
SAFE_SYSCTLS = frozenset({
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start", "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",
})
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
PROFILE_TYPES = frozenset({"RuntimeDefault", "Localhost"})


def _apparmor(spec: dict[str, Any]) -> str | None:
    return next((f"{who} sets AppArmor {sc['appArmorProfile'].get('type')}" for who, sc in _contexts(spec)
                 if sc.get("appArmorProfile") and sc["appArmorProfile"].get("type") not in PROFILE_TYPES), None)


def _selinux(spec: dict[str, Any]) -> str | None:
    return next((f"{who} sets SELinux options {sc['seLinuxOptions']}" for who, sc in _contexts(spec)
                 if (o := sc.get("seLinuxOptions") or {}) and (
                     o.get("type", "") not in SELINUX_TYPES or o.get("user") or o.get("role"))), None)


def _sysctls(spec: dict[str, Any]) -> str | None:
    unsafe = [s.get("name") for s in (spec.get("securityContext") or {}).get("sysctls") or []
              if s.get("name") not in SAFE_SYSCTLS]
    return f"unsafe sysctls {unsafe}" if unsafe else None


def _handler_host(spec: dict[str, Any]) -> str | None:
    for c in _containers(spec):
        handlers = [c.get(p) for p in ("livenessProbe", "readinessProbe", "startupProbe")]
        handlers += list((c.get("lifecycle") or {}).values())
        hosts = [((handler or {}).get(k) or {}).get("host") for handler in handlers for k in ("httpGet", "tcpSocket")]
        if any(hosts):
            return f"{c['name']} has a probe or lifecycle handler aimed at host {next(h for h in hosts if h)}"
    return None


def _proc_mount(spec: dict[str, Any]) -> str | None:
    return next((f"{c['name']} mounts /proc {sc['procMount']}" for c in _containers(spec)
                 if (sc := c.get("securityContext") or {}).get("procMount") not in (None, "Default")), None)


def _run_as_user(spec: dict[str, Any]) -> str | None:
    return next((f"{who} sets runAsUser 0" for who, sc in _contexts(spec) if sc.get("runAsUser") == 0), None)


def _drop_all(spec: dict[str, Any]) -> str | None:
    return next((f"{c['name']} does not drop ALL capabilities" for c in _containers(spec) if "ALL" not in [
        str(x).upper() for x in ((c.get("securityContext") or {}).get("capabilities") or {}).get("drop") or []]),
        None)


def _escalation_unset(spec: dict[str, Any]) -> str | None:
    return next((f"{c['name']} leaves allowPrivilegeEscalation unset" for c in _containers(spec)
                 if (sc := c.get("securityContext") or {}).get("allowPrivilegeEscalation") is None
                 and not sc.get("privileged")), None)


def _seccomp_unset(spec: dict[str, Any]) -> str | None:
    pod = (spec.get("securityContext") or {}).get("seccompProfile")
    return next((f"{c['name']} runs with no seccomp profile" for c in _containers(spec)
                 if not ((c.get("securityContext") or {}).get("seccompProfile") or pod)), None)


# field → (offender words, check on one pod spec returning a problem or None)
CHECKS: dict[str, tuple[list[str], Any]] = {
    "limits": (["limits", "resources", "cpu", "memory"], lambda s: next(
        (f"container {c['name']} lacks cpu/memory limits" for c in _containers(s)
         if not {"cpu", "memory"} <= set(((c.get("resources") or {}).get("limits") or {}))), None)),
    "hostNetwork": (["hostNetwork"], lambda s: "hostNetwork is true" if s.get("hostNetwork") else None),
    "hostPID": (["hostPID"], lambda s: "hostPID is true" if s.get("hostPID") else None),
    "hostIPC": (["hostIPC"], lambda s: "hostIPC is true" if s.get("hostIPC") else None),
    "runAsNonRoot": (["runAsNonRoot"], lambda s: None if (s.get("securityContext") or {}).get("runAsNonRoot")
                     or all((c.get("securityContext") or {}).get("runAsNonRoot") for c in _containers(s))
                     else "runAsNonRoot is not true"),
    "automountServiceAccountToken": (["automountServiceAccountToken"],
                                     lambda s: "a token is mounted" if s.get("automountServiceAccountToken") else None),
    "privileged": (["privileged"], lambda s: next((f"{c['name']} is privileged" for c in _containers(s)
                                                   if (c.get("securityContext") or {}).get("privileged")), None)),
    "allowPrivilegeEscalation": (["allowPrivilegeEscalation", "privilege escalation"], lambda s: next(
        (f"{c['name']} allows privilege escalation" for c in _containers(s)
         if (c.get("securityContext") or {}).get("allowPrivilegeEscalation")), None)),
    "capabilities": (["capabilities", "NET_ADMIN", "SYS_ADMIN"], lambda s: next(
        (f"{c['name']} adds capabilities" for c in _containers(s)
         if ((c.get("securityContext") or {}).get("capabilities") or {}).get("add")), None)),
    "seccomp": (["seccomp", "Unconfined"], lambda s: "seccomp is Unconfined" if "Unconfined" in str(
        [s.get("securityContext"), *[c.get("securityContext") for c in _containers(s)]]) else None),
    "hostPort": (["hostPort", "host port"], lambda s: next((f"{c['name']} declares a hostPort" for c in _containers(s)
                                               if any(p.get("hostPort") for p in c.get("ports") or [])), None)),
    "appArmorProfile": (["AppArmor", "Unconfined"], _apparmor),
    "seLinuxOptions": (["seLinux", "spc_t"], _selinux),
    "sysctls": (["sysctl", "kernel.msgmax"], _sysctls),
    "lifecycleHost": (["lifecycle", "preStop", "prestop.invalid"], _handler_host),
    "procMount": (["procMount", "Unmasked", "/proc"], _proc_mount),
    "runAsUser": (["runAsUser"], _run_as_user),
    "capabilitiesDropAll": (["capabilities", "drop ALL"], _drop_all),
    "allowPrivilegeEscalationUnset": (["allowPrivilegeEscalation", "privilege escalation"], _escalation_unset),
    "seccompProfileUnset": (["seccomp"], _seccomp_unset),
}
# A kubelet's own refusal of a pod (its status reason), for params whose chart a default node refuses:
# that refusal is the node's, not NVCF's, so it makes the item an ERROR instead of a FAIL.
# Settings a node itself may refuse to run, whatever NVCF does: (what the refusal says, what to change).
# A chart of such a case that does not come up on those nodes is not NVCF's fault and cannot be judged.
NODE_REFUSALS: dict[str, tuple[str, str]] = {
    "sysctls": ("SysctlForbidden", "allow it on the nodes: kubelet --allowed-unsafe-sysctls"),
    "procMount": ("does not support user namespaces",
                  "procMount Unmasked needs hostUsers false: run nodes whose runtime supports user namespaces"),
}


def _modified(field: str, case: str, inspector: Any) -> Any:
    def check(deployed: DeployedFunction) -> str:
        if inspector is None:
            raise ConformanceError(f"the chart deployed; without a kubeconfig the harness cannot tell whether "
                                   f"{field} was made conformant (set kubeconfig to decide)")
        problems = [p for spec in _pod_specs(inspector, case) if (p := CHECKS[field][1](spec))]
        if problems:
            raise Nonconformant(f"deployed unchanged: {'; '.join(problems)}", "deployed-violating")
        return f"deployed with {field} made conformant"

    return check


def current(expect: Expect, charts: ChartSet, case: str, field: str | None = None, inspector: Any = None) -> None:
    try:
        expect.deployed(charts[case])
    except Nonconformant as exc:
        refusal = NODE_REFUSALS.get(field or "")
        if refusal and _node_refused(refusal[0], str(exc), case, inspector):
            raise ConformanceError(f"a node refused the pod itself ({refusal[0]}), not NVCF: {refusal[1]}, "
                                   f"to judge {field}") from None
        raise


def _node_refused(marker: str, failure: str, case: str, inspector: Any) -> bool:
    if marker in failure:
        return True
    if inspector is None:
        return False
    if any(marker in str((p.get("status") or {}).get("reason")) for p in inspector.pods(case)):
        return True
    return any(marker in f"{e.get('reason')} {e.get('message')}" for e in inspector.pod_events(case))


def enforced(expect: Expect, charts: ChartSet, case: str, field: str, inspector: Any) -> None:
    expect.refused(charts[case], offenders=CHECKS[field][0], modified_check=_modified(field, case, inspector))


@pytest.mark.rule("SEC-COMPLIANT-DEPLOYS")
@pytest.mark.case("minimal-http")
def test_compliant_deploys(charts: ChartSet, expect: Expect) -> None:
    current(expect, charts, "minimal-http")


@pytest.mark.rule("SEC-LIMITS-CURRENT")
@pytest.mark.case("security-no-limits")
def test_limits_current(charts: ChartSet, expect: Expect) -> None:
    current(expect, charts, "security-no-limits")


@pytest.mark.rule("SEC-LIMITS-ENFORCED")
@pytest.mark.case("security-no-limits")
def test_limits_enforced(charts: ChartSet, expect: Expect, inspector: Any) -> None:
    enforced(expect, charts, "security-no-limits", "limits", inspector)


@pytest.mark.rule("SEC-HOST-NAMESPACES-CURRENT")
@pytest.mark.parametrize(("param", "case"), variants("SEC-HOST-NAMESPACES-CURRENT"))
def test_host_namespaces_current(param: str, case: str, charts: ChartSet, expect: Expect) -> None:
    current(expect, charts, case)


@pytest.mark.rule("SEC-HOST-NAMESPACES-ENFORCED")
@pytest.mark.parametrize(("param", "case"), variants("SEC-HOST-NAMESPACES-ENFORCED"))
def test_host_namespaces_enforced(param: str, case: str, charts: ChartSet, expect: Expect, inspector: Any) -> None:
    enforced(expect, charts, case, param, inspector)


@pytest.mark.rule("SEC-RUN-AS-NON-ROOT-CURRENT")
@pytest.mark.case("security-run-as-non-root-missing")
def test_run_as_non_root_current(charts: ChartSet, expect: Expect) -> None:
    current(expect, charts, "security-run-as-non-root-missing")


@pytest.mark.rule("SEC-RUN-AS-NON-ROOT-ENFORCED")
@pytest.mark.case("security-run-as-non-root-missing")
def test_run_as_non_root_enforced(charts: ChartSet, expect: Expect, inspector: Any) -> None:
    enforced(expect, charts, "security-run-as-non-root-missing", "runAsNonRoot", inspector)


@pytest.mark.rule("SEC-AUTOMOUNT-TOKEN-CURRENT")
@pytest.mark.case("security-automount-token")
def test_automount_current(charts: ChartSet, expect: Expect) -> None:
    current(expect, charts, "security-automount-token")


@pytest.mark.rule("SEC-AUTOMOUNT-TOKEN-ENFORCED")
@pytest.mark.case("security-automount-token")
def test_automount_enforced(charts: ChartSet, expect: Expect, inspector: Any) -> None:
    enforced(expect, charts, "security-automount-token", "automountServiceAccountToken", inspector)


@pytest.mark.rule("SEC-PRIVILEGE-CURRENT")
@pytest.mark.parametrize(("param", "case"), variants("SEC-PRIVILEGE-CURRENT"))
def test_privilege_current(param: str, case: str, charts: ChartSet, expect: Expect) -> None:
    current(expect, charts, case)


@pytest.mark.rule("SEC-PRIVILEGE-ENFORCED")
@pytest.mark.parametrize(("param", "case"), variants("SEC-PRIVILEGE-ENFORCED"))
def test_privilege_enforced(param: str, case: str, charts: ChartSet, expect: Expect, inspector: Any) -> None:
    enforced(expect, charts, case, param, inspector)


@pytest.mark.rule("SEC-SECCOMP-CURRENT")
@pytest.mark.case("security-seccomp-unconfined")
def test_seccomp_current(charts: ChartSet, expect: Expect) -> None:
    current(expect, charts, "security-seccomp-unconfined")


@pytest.mark.rule("SEC-SECCOMP-ENFORCED")
@pytest.mark.case("security-seccomp-unconfined")
def test_seccomp_enforced(charts: ChartSet, expect: Expect, inspector: Any) -> None:
    enforced(expect, charts, "security-seccomp-unconfined", "seccomp", inspector)


@pytest.mark.rule("SEC-HOST-PORT-CURRENT")
@pytest.mark.case("security-host-port")
def test_host_port_current(charts: ChartSet, expect: Expect) -> None:
    current(expect, charts, "security-host-port")


@pytest.mark.rule("SEC-HOST-PORT-ENFORCED")
@pytest.mark.case("security-host-port")
def test_host_port_enforced(charts: ChartSet, expect: Expect, inspector: Any) -> None:
    enforced(expect, charts, "security-host-port", "hostPort", inspector)


@pytest.mark.rule("SEC-PSS-BASELINE-OTHER-CURRENT")
@pytest.mark.parametrize(("param", "case"), variants("SEC-PSS-BASELINE-OTHER-CURRENT"))
def test_pss_baseline_other_current(param: str, case: str, charts: ChartSet, expect: Expect, inspector: Any) -> None:
    current(expect, charts, case, param, inspector)


@pytest.mark.rule("SEC-PSS-BASELINE-OTHER-ENFORCED")
@pytest.mark.parametrize(("param", "case"), variants("SEC-PSS-BASELINE-OTHER-ENFORCED"))
def test_pss_baseline_other_enforced(param: str, case: str, charts: ChartSet, expect: Expect, inspector: Any) -> None:
    enforced(expect, charts, case, param, inspector)


@pytest.mark.rule("SEC-PSS-RESTRICTED-OTHER-CURRENT")
@pytest.mark.parametrize(("param", "case"), variants("SEC-PSS-RESTRICTED-OTHER-CURRENT"))
def test_pss_restricted_other_current(param: str, case: str, charts: ChartSet, expect: Expect,
                                      inspector: Any) -> None:
    current(expect, charts, case, param, inspector)


@pytest.mark.rule("SEC-PSS-RESTRICTED-OTHER-ENFORCED")
@pytest.mark.parametrize(("param", "case"), variants("SEC-PSS-RESTRICTED-OTHER-ENFORCED"))
def test_pss_restricted_other_enforced(param: str, case: str, charts: ChartSet, expect: Expect,
                                       inspector: Any) -> None:
    enforced(expect, charts, case, param, inspector)
