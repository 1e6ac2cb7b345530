"""Lifecycle and invocation of a deployed function: statuses, pexec, polling, versions, headers, pass-through."""

from __future__ import annotations

import pytest

from conformance.client import Nonconformant, NvcfClient
from conformance.client.kserve import EchoAnswer, echo_request
from conformance.plugin import ChartRef, Expect, Functions
from suites._helpers import identity_configuration

pytestmark = pytest.mark.case("minimal-http")


@pytest.mark.rule("LIFECYCLE-DEPLOY")
def test_inactive_deploying_active(chart: ChartRef, functions: Functions, expect: Expect) -> None:
    created = functions.create(chart).expect(200, 201).field("function")
    assert created["status"] == "INACTIVE", f"a new version is {created['status']}, not INACTIVE"
    deploy = functions.deploy(created["id"], created["versionId"], functions.spec(chart)).expect(200, 201, 202)
    first = (deploy.body or {}).get("deployment", {}).get("functionStatus")
    watch = functions.wait(created["id"], created["versionId"], {"ACTIVE", "ERROR"}, "timeouts.deploy_active")
    seen = ["INACTIVE", *([first] if first else []), *watch.history]
    if "ERROR" in seen:
        raise Nonconformant(f"the deployment passed through ERROR: {' → '.join(seen)}", "refused-unexpectedly")
    unexpected = [s for s in seen if s not in ("INACTIVE", "DEPLOYING", "ACTIVE")]
    assert not unexpected, f"statuses outside INACTIVE → DEPLOYING → ACTIVE: {' → '.join(seen)}"
    assert watch.final == "ACTIVE"
    expect.observed("lifecycle-as-documented", " → ".join(dict.fromkeys(seen)))


@pytest.mark.rule("LIFECYCLE-UNDEPLOY")
def test_undeploy_returns_to_inactive(chart: ChartRef, functions: Functions, nvcf: NvcfClient,
                                      expect: Expect) -> None:
    deployed = functions.deployed(chart)
    nvcf.delete_deployment(deployed.function_id, deployed.version_id).expect(200, 202, 204)
    watch = functions.wait(deployed.function_id, deployed.version_id, {"INACTIVE"}, "timeouts.undeploy")
    expect.observed("lifecycle-as-documented", f"ACTIVE → {' → '.join(watch.history)}")


@pytest.mark.rule("DEPLOY-REDEPLOY-REFUSED")
def test_redeploy_refused(chart: ChartRef, functions: Functions, expect: Expect) -> None:
    deployed = functions.deployed(chart)
    expect.status(functions.deploy(deployed.function_id, deployed.version_id, functions.spec(chart)), 400)


@pytest.mark.rule("INVOKE-PEXEC-ANSWER")
def test_pexec_answer(chart: ChartRef, functions: Functions, expect: Expect) -> None:
    deployed = functions.deployed(chart)
    invocation = deployed.infer("pexec-answer")
    reply = invocation.final.expect(200)
    EchoAnswer.of(reply).echoes("pexec-answer", reply)
    assert invocation.first.request_id, "the pexec answer carries no NVCF-REQID header"
    expect.observed("invocation-answered", f"200 with NVCF-REQID {invocation.first.request_id}")


@pytest.mark.rule("INVOKE-PEXEC-POLL")
def test_pexec_poll(chart: ChartRef, functions: Functions, nvcf: NvcfClient, expect: Expect) -> None:
    deployed = functions.deployed(chart)
    # The probe answers 3 s late on request (`delay_seconds`), past the shortest poll window (1 s).
    body = echo_request("polled", delay_seconds=3)
    invocation = nvcf.invoke(deployed.function_id, body, poll_seconds=1)
    if invocation.first.status_code != 202:
        raise Nonconformant("an answer that takes 3 s came back without a 202 inside a 1-second poll window "
                            f"({invocation.first.describe()})", "wrong-answer")
    assert invocation.first.request_id, "the 202 carries no NVCF-REQID"
    reply = invocation.final.expect(200)
    EchoAnswer.of(reply).echoes("polled", reply)
    expect.observed("invocation-answered-after-poll", f"202, then {len(invocation.polls)} poll(s)")


@pytest.mark.rule("INVOKE-PEXEC-VERSION")
def test_pexec_version(chart: ChartRef, functions: Functions, nvcf: NvcfClient, expect: Expect) -> None:
    # Two versions of one function, each told its own name: only the version asked for may answer.
    first = functions.deployed(chart, configuration=identity_configuration("first"))
    second = functions.deployed_version(first, configuration=identity_configuration("second"))
    for deployed, name in ((first, "first"), (second, "second")):
        reply = nvcf.invoke(deployed.function_id, echo_request("v"), version_id=deployed.version_id).final.expect(200)
        answer = EchoAnswer.of(reply)
        served, served_by = answer.metadata().get("nvcf-function-version-id"), answer.parameters.get("served-by")
        if served != deployed.version_id or served_by != name:
            raise Nonconformant(f"asked for version {deployed.version_id} ({name}), answered by {served_by!r} "
                                f"with NVCF-FUNCTION-VERSION-ID {served!r}", "wrong-answer")
    expect.observed("invocation-answered", f"each of versions {first.version_id} and {second.version_id} answered "
                                           "its own calls")


@pytest.mark.rule("INVOKE-HEADERS-FORWARDED")
def test_headers_forwarded(chart: ChartRef, functions: Functions, expect: Expect) -> None:
    deployed = functions.deployed(chart)
    invocation = deployed.infer("headers")
    reply = invocation.final.expect(200)
    seen = EchoAnswer.of(reply).metadata()
    expected = {"nvcf-function-id": deployed.function_id, "nvcf-function-version-id": deployed.version_id,
                "nvcf-reqid": invocation.first.request_id}
    wrong = {k: seen.get(k) for k, v in expected.items() if seen.get(k) != v}
    if wrong:
        raise Nonconformant(f"the mini-service got {wrong}, expected {expected}", "wrong-answer")
    expect.observed("invocation-answered", "NVCF-REQID, NVCF-FUNCTION-ID, NVCF-FUNCTION-VERSION-ID forwarded")


@pytest.mark.rule("INVOKE-PASSTHROUGH-STATUS")
def test_passthrough_status_unchanged(chart: ChartRef, functions: Functions, nvcf: NvcfClient,
                                      expect: Expect) -> None:
    deployed = functions.deployed(chart)
    ok = nvcf.passthrough(deployed.function_id, "GET", "/v2/health/ready")
    assert ok.status_code == 200 and (ok.body or {}).get("ready") is True, ok.describe()
    missing = nvcf.passthrough(deployed.function_id, "GET", "/v2/models/no-such-model/ready")
    if missing.status_code != 404 or "unknown model" not in missing.text:
        raise Nonconformant(f"the mini-service's own 404 did not come back unchanged: {missing.describe()} "
                            f"{missing.text[:200]!r}", "wrong-answer")
    expect.observed("invocation-answered", "200 and the mini-service's own 404 passed through")
