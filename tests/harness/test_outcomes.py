"""Outcome helpers accept every conformant outcome of a rule and FAIL every nonconformant one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_nvcf import FakeNvcf
from harness_support import target_for

from conformance.catalog import load_catalog
from conformance.client import Nonconformant, NvcfClient, TargetServerError
from conformance.plugin import ChartRef, ItemRecord, expect_deployed, expect_refused
from conformance.plugin.functions import Functions, Janitor

CATALOG = load_catalog()
CHART = ChartRef(case="kind-forbidden-daemonset", chart="kind-forbidden-daemonset", version="1.0.0",
                 helm_chart="oci://127.0.0.1:5999/r/charts/kind-forbidden-daemonset-1.0.0.tgz",
                 service_name="kind-forbidden-daemonset", inference_port=8000,
                 inference_url="/v2/models/echo/infer", digest=None)


@pytest.fixture
def functions(fake: FakeNvcf) -> Iterator[Functions]:
    client = NvcfClient(target_for(fake.address))
    factory = Functions(client, "t1", "main", Janitor())
    yield factory
    factory.cleanup()
    client.close()


def refused(functions: Functions, rule_id: str = "KIND-FORBIDDEN", **kwargs: object) -> tuple[str, ItemRecord]:
    record = ItemRecord(rule_id, CHART.case, None)
    observation = expect_refused(functions, CHART, CATALOG[rule_id], offenders=["DaemonSet"], record=record,
                                 **kwargs)  # type: ignore[arg-type]
    assert record.outcome == observation.outcome
    return observation.outcome, record


def test_refused_at_creation(fake: FakeNvcf, functions: Functions) -> None:
    fake.state.script.create_status = 400
    fake.state.script.create_detail = "unsupported types: [apps/v1.DaemonSet]"
    assert refused(functions)[0] == "refused-at-creation"


def test_refused_at_deployment(fake: FakeNvcf, functions: Functions) -> None:
    fake.state.script.deploy_status = 422
    fake.state.script.deploy_detail = "chart renders a daemonset, which is not allowed"
    assert refused(functions)[0] == "refused-at-deployment"


def test_deployment_error_naming_offender(fake: FakeNvcf, functions: Functions) -> None:
    fake.state.script.final_status = "ERROR"
    fake.state.script.error_reason = "validation errors: [kind DaemonSet not allowed]"
    assert refused(functions)[0] == "deployment-error-naming-offender"


def test_modified_conformant_when_the_rule_allows_it(fake: FakeNvcf, functions: Functions) -> None:
    outcome, record = refused(functions, "SVC-TYPE-FORBIDDEN", modified_check=lambda d: "type changed to ClusterIP")
    assert outcome == "deployed-modified-conformant" and "ClusterIP" in record.note


@pytest.mark.parametrize(
    ("script", "observation"),
    [
        ({"create_status": 400, "create_detail": "invalid chart"}, "refused-not-naming-offender"),
        ({"deploy_status": 400, "deploy_detail": "bad request"}, "refused-not-naming-offender"),
        ({"final_status": "ERROR", "error_reason": "pods failed"}, "refused-not-naming-offender"),
        ({"final_status": "ERROR", "error_reason": ""}, "refused-not-naming-offender"),
        ({"final_status": "ACTIVE"}, "deployed-violating"),
        ({"final_status": "DEPLOYING"}, "timed-out"),
        ({"create_status": 302, "create_detail": "DaemonSet moved"}, "unexpected-http-status"),
    ],
)
def test_nonconformant_outcomes_fail(fake: FakeNvcf, functions: Functions, script: dict[str, object],
                                     observation: str) -> None:
    for key, value in script.items():
        setattr(fake.state.script, key, value)
    with pytest.raises(Nonconformant) as caught:
        refused(functions)
    assert caught.value.outcome == observation
    assert isinstance(caught.value, AssertionError)  # a FAIL, not an ERROR


def test_a_server_error_is_an_error_of_the_environment(fake: FakeNvcf, functions: Functions) -> None:
    # A 5xx from the management API says nothing about the rule: ERROR (exit 2), never a FAIL.
    fake.state.script.create_status = 500
    fake.state.script.create_detail = "DaemonSet crashed us"
    with pytest.raises(TargetServerError):
        refused(functions)


def test_refusal_phase_outside_the_rules_set_fails(fake: FakeNvcf, functions: Functions) -> None:
    # ITYPE-MALFORMED-REFUSED allows refusal at deployment or an ERROR, not at creation.
    fake.state.script.create_status = 400
    fake.state.script.create_detail = "DaemonSet"
    with pytest.raises(Nonconformant, match="does not allow"):
        refused(functions, "ITYPE-MALFORMED-REFUSED")


def test_active_with_a_modification_that_does_not_conform_fails(fake: FakeNvcf, functions: Functions) -> None:
    def still_nodeport(_: object) -> str:
        raise Nonconformant("the Service is still NodePort", "deployed-violating")

    with pytest.raises(Nonconformant, match="still NodePort"):
        refused(functions, "SVC-TYPE-FORBIDDEN", modified_check=still_nodeport)


def test_modification_not_accepted_when_the_rule_does_not_allow_it(fake: FakeNvcf, functions: Functions) -> None:
    with pytest.raises(Nonconformant) as caught:
        refused(functions, "KIND-FORBIDDEN", modified_check=lambda d: "dropped the DaemonSet")
    assert caught.value.outcome == "deployed-violating"


def test_expect_deployed_accepts_active_and_answer(fake: FakeNvcf, functions: Functions) -> None:
    record = ItemRecord("KIND-ALLOWED", CHART.case, None)
    observation = expect_deployed(functions, CHART, CATALOG["KIND-ALLOWED"], record=record)
    assert observation.outcome == "deployed-conformant" and observation.deployed is not None


def test_expect_deployed_fails_on_error(fake: FakeNvcf, functions: Functions) -> None:
    fake.state.script.final_status = "ERROR"
    fake.state.script.error_reason = "image pull failed"
    with pytest.raises(Nonconformant, match="image pull failed") as caught:
        expect_deployed(functions, CHART, CATALOG["KIND-ALLOWED"])
    assert caught.value.outcome == "refused-unexpectedly"


def test_cleanup_removes_everything_created(fake: FakeNvcf, functions: Functions) -> None:
    functions.deployed(CHART)
    functions.create(CHART)
    functions.cleanup()
    deletes = [p for m, p in fake.calls("DELETE")]
    assert sum("/deployments/" in p for p in deletes) == 2 and sum("/functions/" in p and "/deployments/" not in p
                                                                    for p in deletes) == 2
    assert functions.janitor.pending() == []


@pytest.mark.parametrize("phase", ["create", "deploy", "error"])
def test_a_rule_may_bring_a_stricter_refusal_judge(fake: FakeNvcf, functions: Functions, phase: str) -> None:
    # The error contains the offender word, but only inside a name the judge discounts.
    error = "kind DaemonSet not allowed: DaemonSet/hook-agent"
    if phase == "create":
        fake.state.script.create_status, fake.state.script.create_detail = 400, error
    elif phase == "deploy":
        fake.state.script.deploy_status, fake.state.script.deploy_detail = 422, error
    else:
        fake.state.script.final_status, fake.state.script.error_reason = "ERROR", error
    judge_saw: list[str] = []

    def judge(text: str) -> str | None:
        judge_saw.append(text)
        return "hook" if "hook " in text.replace("hook-agent", "") else None

    with pytest.raises(Nonconformant, match="does not name the offender"):
        refused(functions, judge=judge)
    assert judge_saw and "hook-agent" in judge_saw[0]
