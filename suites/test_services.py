"""The mini-service: the Service named `helmChartServiceName`, its port, readiness and routing; Service types."""

from __future__ import annotations

import time

import pytest

from conformance.client import Nonconformant
from conformance.client.kserve import EchoAnswer
from conformance.errors import ConformanceError
from conformance.plugin import ChartRef, ChartSet, DeployedFunction, Expect, Functions, variants
from conformance.target.config import TargetConfig
from suites._helpers import case_overlay, ready_delay_configuration


@pytest.mark.rule("SVC-NAME-MISMATCH-REFUSED")
@pytest.mark.case("service-name-mismatch")
def test_service_name_mismatch_refused(chart: ChartRef, expect: Expect) -> None:
    expect.refused(chart, offenders=[chart.service_name, "helmChartServiceName"])


@pytest.mark.rule("SVC-NAME-TEMPLATED")
@pytest.mark.case("service-name-templated")
def test_templated_service_name(chart: ChartRef, expect: Expect) -> None:
    expect.deployed_or_refused(chart, offenders=[chart.service_name, "helmChartServiceName", "service"])


@pytest.mark.rule("SVC-PORT-MISMATCH-REFUSED")
@pytest.mark.case("service-port-mismatch")
def test_service_port_mismatch_refused(chart: ChartRef, expect: Expect) -> None:
    expect.refused(chart, offenders=[str(chart.inference_port), chart.service_name])


@pytest.mark.rule("MINI-ACTIVE-WHEN-READY")
@pytest.mark.case("minimal-http")
def test_active_only_when_ready(chart: ChartRef, functions: Functions, target: TargetConfig, expect: Expect) -> None:
    delay = target.timeout("ready_delay")
    configuration = ready_delay_configuration(delay)
    started = time.monotonic()
    deployed = functions.deployed(chart, configuration=configuration)
    waited = time.monotonic() - started
    # The probe answers inferences only once ready, so an early ACTIVE shows as a 503 here.
    reply = deployed.infer("ready-check").final
    if reply.status_code != 200:
        raise Nonconformant(f"ACTIVE after {waited:.0f} s, but the mini-service is not ready yet: {reply.describe()}",
                            "deployed-violating")
    assert "DEPLOYING" in deployed.watch.history or waited >= delay, (
        f"ACTIVE after {waited:.0f} s without DEPLOYING, before the {delay:.0f} s readiness delay")
    expect.observed("lifecycle-as-documented", f"{' → '.join(deployed.watch.history)} in {waited:.0f} s")


@pytest.mark.rule("MINI-SERVICE-ROUTED")
@pytest.mark.case("minimal-http")
def test_invocation_reaches_the_mini_service(chart: ChartRef, deployed_function: object, expect: Expect) -> None:
    deployed: DeployedFunction = deployed_function(chart)  # type: ignore[operator]
    reply = deployed.infer("routed").final.expect(200)
    answer = EchoAnswer.of(reply).echoes("routed", reply)
    assert answer.model_name == "echo", f"the answer is not the probe's KServe echo: {reply.text[:200]!r}"
    expect.observed("invocation-answered", f"pexec {chart.inference_url} answered by the mini-service")


@pytest.mark.rule("SVC-TYPE-CLUSTERIP")
@pytest.mark.parametrize(("param", "case"), variants("SVC-TYPE-CLUSTERIP"))
def test_clusterip_services_accepted(param: str, case: str, charts: ChartSet, expect: Expect) -> None:
    expect.deployed(charts[case])


@pytest.mark.rule("SVC-TYPE-FORBIDDEN")
@pytest.mark.parametrize(("param", "case"), variants("SVC-TYPE-FORBIDDEN"))
def test_forbidden_service_types(param: str, case: str, charts: ChartSet, expect: Expect, inspector: object) -> None:
    chart = charts[case]

    def made_cluster_ip(deployed: DeployedFunction) -> str:
        if inspector is None:
            raise ConformanceError(f"a {param} Service deployed; without a kubeconfig the harness cannot tell whether "
                                   "it was changed to ClusterIP (set kubeconfig to decide)")
        services = inspector.case_objects(case, ["Service"])  # type: ignore[attr-defined]
        bad = [s["metadata"]["name"] for s in services if (s.get("spec") or {}).get("type") not in (None, "ClusterIP")]
        if bad:
            raise Nonconformant(f"Service(s) {bad} still have type {param}", "deployed-violating")
        return f"the {param} Service was changed to ClusterIP"

    names = [chart.service_name, *case_overlay(case).rendered_service_name.split()]
    # NVIDIA's validator names neither the Service nor its type: "service is not ClusterIP".
    expect.refused(chart, offenders=[param, *names, "not ClusterIP"], modified_check=made_cluster_ip)
