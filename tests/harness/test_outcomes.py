"""Outcome helpers accept every conformant outcome of a rule and FAIL every nonconformant one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_nvcf import FakeNvcf
from harness_support import target_for

from conformance.catalog import load_catalog
from conformance.client import Nonconformant, NvcfClient, TargetServerError
from conformance.client.setup_faults import SetupFault, setup_cause
from conformance.plugin import ChartRef, ItemRecord, expect_deployed, expect_refused
from conformance.plugin.functions import Functions, Janitor

CATALOG = load_catalog()
CHART = ChartRef(case="kind-forbidden-daemonset", chart="kind-forbidden-daemonset", version="1.0.0",
                 helm_chart="oci://127.0.0.1:5999/r/charts/kind-forbidden-daemonset-1.0.0.tgz",
                 service_name="kind-forbidden-daemonset", inference_port=8000,
                 inference_url="/v2/models/echo/infer", digest=None)


@pytest.fixture
def functions(fake: FakeNvcf) -> Iterator[Functions]:
    client = NvcfClient(target_for(fake.address, registry=False))
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
    assert refused(functions)[0] == "deployment-error"


def test_modified_conformant_when_the_rule_allows_it(fake: FakeNvcf, functions: Functions) -> None:
    outcome, record = refused(functions, "SVC-TYPE-FORBIDDEN", modified_check=lambda d: "type changed to ClusterIP")
    assert outcome == "deployed-modified-conformant" and "ClusterIP" in record.note


@pytest.mark.parametrize(
    ("script", "outcome"),
    [
        ({"create_status": 400, "create_detail": "invalid chart"}, "refused-at-creation"),
        ({"deploy_status": 400, "deploy_detail": "bad request"}, "refused-at-deployment"),
        ({"final_status": "ERROR", "error_reason": "pods failed"}, "deployment-error"),
        ({"final_status": "ERROR", "error_reason": ""}, "deployment-error"),
    ],
)
def test_a_refusal_in_any_wording_is_conformant(fake: FakeNvcf, functions: Functions, script: dict[str, object],
                                                 outcome: str) -> None:
    # NVIDIA words refusals its own way ("service is not ClusterIP"): the refusal is the MUST, and what its
    # text names is judged by REFUSAL-NAMES-OFFENDER, fed from the record.
    for key, value in script.items():
        setattr(fake.state.script, key, value)
    observed, record = refused(functions)
    assert observed == outcome
    assert record.refusal is not None and record.refusal.named is None
    assert record.refusal.offenders == ("DaemonSet",)


def test_a_naming_refusal_is_recorded_as_naming(fake: FakeNvcf, functions: Functions) -> None:
    fake.state.script.deploy_status = 400
    fake.state.script.deploy_detail = 'Helm chart validation error(s): unsupported types: ["apps/v1.DaemonSet"]'
    _, record = refused(functions)
    assert record.refusal is not None and record.refusal.named == "DaemonSet"
    assert "apps/v1.DaemonSet" in record.refusal.text


@pytest.mark.parametrize(
    ("script", "observation"),
    [
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

    with pytest.raises(Nonconformant, match="does not name the offender") as caught:
        refused(functions, judge=judge)
    assert caught.value.outcome == "refused-not-naming-offender"
    assert judge_saw and "hook-agent" in judge_saw[0]


@pytest.mark.parametrize("text", [
    "helm chart URL must not point to private networks",
    'run helm template: no credential was valid to pull chart "oci://10.0.0.9/r/charts/c-1.0.0.tgz"',
    "registry 127.0.0.1:41234 cannot be reached (pull): dial tcp 127.0.0.1:41234: connect: connection refused",
])
def test_a_refusal_for_the_registrys_sake_is_a_setup_error(fake: FakeNvcf, functions: Functions, text: str) -> None:
    # Accepting it would PASS a refusal rule on a broken set-up; it is neither PASS nor FAIL but ERROR.
    fake.state.script.deploy_status, fake.state.script.deploy_detail = 400, text
    with pytest.raises(SetupFault, match=r"set-up \(") as caught:
        refused(functions)
    assert not isinstance(caught.value, AssertionError)


def test_a_registry_gone_mid_run_turns_refusals_and_failed_deployments_into_errors(fake: FakeNvcf) -> None:
    client = NvcfClient(target_for(fake.address))  # names a registry on a port where nothing listens
    factory = Functions(client, "t1", "main", Janitor())
    try:
        fake.state.script.deploy_status, fake.state.script.deploy_detail = 400, "kind DaemonSet is not allowed"
        with pytest.raises(SetupFault, match="cannot be reached"):
            refused(factory)
        fake.state.script.deploy_status = 200
        fake.state.script.final_status, fake.state.script.error_reason = "ERROR", "chart pull failed"
        with pytest.raises(Nonconformant) as caught:
            factory.deployed(CHART)
        # The plugin asks this of every FAIL before recording it: here the registry explains it (ERROR).
        cause = setup_cause(client.target, str(caught.value))
        assert cause is not None and "cannot be reached" in cause
    finally:
        factory.cleanup()
        client.close()


def test_an_image_pull_failure_stays_a_verdict(fake: FakeNvcf, functions: Functions) -> None:
    # Pull secrets are the implementation's job: a pod that cannot pull its image is its failure.
    fake.state.script.final_status = "ERROR"
    fake.state.script.error_reason = ('pod p container c: ErrImagePull: failed to pull image "r/i:1": registry r '
                                      "requires credentials and the pod has no imagePullSecrets")
    with pytest.raises(Nonconformant) as caught:
        functions.deployed(CHART)
    assert caught.value.outcome == "refused-unexpectedly"
