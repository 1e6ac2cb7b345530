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


def current(expect: Expect, charts: ChartSet, case: str) -> None:
    expect.deployed(charts[case])


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
