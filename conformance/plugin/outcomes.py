"""Outcome helpers: drive a case and accept exactly the rule's conformant outcome set.

A refusal is the MUST: its phase (function creation, deployment creation, deployment ERROR) is free
within the rule's outcome set and its wording is not judged there, since implementations word their
refusals differently (NVIDIA's validator prints `unsupported types: ["apps/v1.DaemonSet"]`, a volume's
name, `service is not ClusterIP`). Whether the text names the offence is recorded on the item and
reported as the SHOULD rule REFUSAL-NAMES-OFFENDER; that the refusal was caused by the offence is
proven by the chart's fixed twin, which must deploy. A rule whose statement is about what a refusal
names (a hook refused as a hook, not as its kind) brings a `judge`, and then the judge decides.
Everything that is not conformant raises `Nonconformant` (an AssertionError: the test FAILs) with
the observation's word from `NONCONFORMANT_OBSERVATIONS`; every accepted outcome is recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from conformance.catalog import Rule
from conformance.client.errors import Nonconformant, WaitTimeout
from conformance.client.http import Reply
from conformance.client.kserve import EchoAnswer
from conformance.client.setup_faults import check_refusal

from .charts import ChartRef
from .functions import DeployedFunction, Functions
from .results import ItemRecord, RefusalText

REFUSALS = ("refused-at-creation", "refused-at-deployment", "deployment-error")

# What a refusal's error names of the offence, or None when it names nothing. Without a judge the
# offender words are looked for (REFUSAL-NAMES-OFFENDER); a judge makes naming part of the rule itself.
Judge = Callable[[str], str | None]


@dataclass(frozen=True)
class Observation:
    outcome: str
    detail: str
    deployed: DeployedFunction | None = None


def names_offender(text: str, offenders: Iterable[str]) -> str | None:
    """The first offender `text` names (case-insensitive), or None."""
    lowered = text.lower()
    for offender in offenders:
        if offender and offender.lower() in lowered:
            return offender
    return None


def accept(rule: Rule, record: ItemRecord | None, outcome: str, detail: str) -> Observation:
    if outcome not in rule.outcomes:
        raise Nonconformant(
            f"observed {outcome} ({detail}), which {rule.id} does not allow (conformant: {', '.join(rule.outcomes)})",
            "unexpected-http-status" if outcome.startswith("refused") else "deployed-violating",
        )
    if record is not None:
        record.observe(outcome, detail)
    return Observation(outcome, detail)


def _refusal(functions: Functions, rule: Rule, record: ItemRecord | None, outcome: str, error: str,
             offenders: Sequence[str], judge: Judge | None) -> Observation:
    check_refusal(functions.client.target, error)  # a refusal for the registry's sake is no verdict
    named = judge(error) if judge is not None else names_offender(error, offenders)
    short = " ".join(error.split())[:300]
    wanted = " or ".join(repr(o) for o in offenders)
    if named is None and judge is not None:
        raise Nonconformant(f"{outcome.replace('-', ' ')}, but the error does not name the offender ({wanted}) "
                            f"as {rule.id} requires: {short!r}", "refused-not-naming-offender")
    observation = accept(rule, record, outcome, f"{outcome}: names {named!r}: {short}" if named else
                          f"{outcome} (the error names none of {wanted}): {short or '(no reason given)'}")
    if record is not None:
        record.refusal = RefusalText(short, tuple(offenders), named)
    return observation


def expect_refused(
    functions: Functions,
    chart: ChartRef,
    rule: Rule,
    *,
    offenders: Sequence[str],
    record: ItemRecord | None = None,
    configuration: dict[str, Any] | None = None,
    spec: dict[str, Any] | None = None,
    modified_check: Callable[[DeployedFunction], str] | None = None,
    body: dict[str, Any] | None = None,
    judge: Judge | None = None,
) -> Observation:
    """Create → deploy → wait, and accept any refusal in `rule.outcomes` that names an offender (as
    `judge` reads it, when given).

    When the function reaches ACTIVE, `deployed-modified-conformant` is accepted only if the rule
    allows it and `modified_check` (which inspects the deployed function and returns what changed, or
    raises `Nonconformant`) says the offending object was made to conform; otherwise it is a FAIL.
    """
    created = functions.create(chart, **(body or {}))
    if 400 <= created.status_code < 500:
        return _refusal(functions, rule, record, "refused-at-creation", created.error_text, offenders, judge)
    if not created.ok:
        raise Nonconformant(f"function creation answered neither 2xx nor 4xx: {created.describe()}",
                            "unexpected-http-status")
    function = created.field("function")
    fid, vid = str(function["id"]), str(function["versionId"])
    deploy = functions.deploy(fid, vid, spec or functions.spec(chart, configuration=configuration))
    if 400 <= deploy.status_code < 500:
        return _refusal(functions, rule, record, "refused-at-deployment", deploy.error_text, offenders, judge)
    if not deploy.ok:
        raise Nonconformant(f"deployment creation answered neither 2xx nor 4xx: {deploy.describe()}",
                            "unexpected-http-status")
    settled = _settle(functions, rule, record, chart, function, deploy, offenders, judge, "timeouts.deploy_error")
    if isinstance(settled, Observation):
        return settled
    deployed = settled
    if modified_check is not None and "deployed-modified-conformant" in rule.outcomes:
        change = modified_check(deployed)
        # "only if modification will not break your chart": the modified chart must still answer.
        change += "; " + check_answers(deployed)
        observation = accept(rule, record, "deployed-modified-conformant", change)
        return Observation(observation.outcome, observation.detail, deployed)
    raise Nonconformant(
        f"the function reached ACTIVE with the violation inside ({' → '.join(deployed.watch.history)}); "
        f"expected a refusal naming {' or '.join(repr(o) for o in offenders)}",
        "deployed-violating",
    )


def expect_deployed(
    functions: Functions,
    chart: ChartRef,
    rule: Rule,
    *,
    record: ItemRecord | None = None,
    configuration: dict[str, Any] | None = None,
    spec: dict[str, Any] | None = None,
    answer: bool = True,
    body: dict[str, Any] | None = None,
) -> Observation:
    """The chart deploys to ACTIVE and (with `answer`) the mini-service answers an inference."""
    deployed = functions.deployed(chart, configuration=configuration, spec=spec, **(body or {}))
    detail = f"ACTIVE after {' → '.join(deployed.watch.history)}"
    if answer:
        detail += "; " + check_answers(deployed)
    observation = accept(rule, record, "deployed-conformant", detail)
    return Observation(observation.outcome, observation.detail, deployed)


def check_answers(deployed: DeployedFunction) -> str:
    """The mini-service's own KServe echo comes back through pexec."""
    token = f"nvcfc-{deployed.version_id[:8]}"
    reply = deployed.infer(token).final
    if reply.status_code != 200:
        raise Nonconformant(f"the ACTIVE function does not answer: {reply.describe()}", "wrong-answer")
    EchoAnswer.of(reply).echoes(token, reply)
    return "the mini-service answered through pexec"


def expect_status(reply: Reply, rule: Rule, record: ItemRecord | None, *codes: int) -> Observation:
    """An API answer whose status is one of `codes`, mapped onto the rule's http-* outcome."""
    reply.expect(*codes)
    outcome = "http-204" if reply.status_code == 204 else "http-404" if reply.status_code == 404 else (
        "http-400" if reply.status_code == 400 else "http-2xx")
    return accept(rule, record, outcome, reply.describe())


def expect_problem_details(reply: Reply, rule: Rule, record: ItemRecord | None) -> Observation:
    """A 4xx answer that is RFC 7807 problem details with a meaningful detail."""
    if not 400 <= reply.status_code < 500:
        raise Nonconformant(f"expected a 4xx answer to check its shape: {reply.describe()}", "unexpected-http-status")
    problem = reply.problem
    if problem is None:
        raise Nonconformant(f"the {reply.status_code} answer is not problem details: {reply.text[:200]!r}",
                            "wrong-answer")
    issues = problem.problems_with_shape(reply.status_code)
    if issues:
        raise Nonconformant(f"{reply.describe()}: not RFC 7807: {'; '.join(issues)}", "wrong-answer")
    return accept(rule, record, "problem-details", reply.describe())


def expect_deployed_or_refused(
    functions: Functions,
    chart: ChartRef,
    rule: Rule,
    *,
    offenders: Sequence[str],
    record: ItemRecord | None = None,
    configuration: dict[str, Any] | None = None,
    check: Callable[[DeployedFunction], tuple[str, str]] | None = None,
    judge: Judge | None = None,
) -> Observation:
    """For rules that allow either: a refusal naming an offender, or ACTIVE + answer (+ `check`).

    `check` inspects the deployed function and returns (outcome, detail), e.g. `deployed-object-skipped`,
    or raises `Nonconformant`; without it, ACTIVE and answering is `deployed-conformant`.
    """
    created = functions.create(chart)
    if 400 <= created.status_code < 500:
        return _refusal(functions, rule, record, "refused-at-creation", created.error_text, offenders, judge)
    created.expect(200, 201)
    function = created.field("function")
    fid, vid = str(function["id"]), str(function["versionId"])
    deploy = functions.deploy(fid, vid, functions.spec(chart, configuration=configuration))
    if 400 <= deploy.status_code < 500:
        return _refusal(functions, rule, record, "refused-at-deployment", deploy.error_text, offenders, judge)
    deploy.expect(200, 201, 202)
    settled = _settle(functions, rule, record, chart, function, deploy, offenders, judge, "timeouts.deploy_active")
    if isinstance(settled, Observation):
        return settled
    deployed = settled
    answered = check_answers(deployed)
    outcome, detail = check(deployed) if check is not None else ("deployed-conformant", answered)
    observation = accept(rule, record, outcome, detail)
    return Observation(observation.outcome, observation.detail, deployed)


def _settle(functions: Functions, rule: Rule, record: ItemRecord | None, chart: ChartRef, function: dict[str, Any],
            deploy: Reply, offenders: Sequence[str], judge: Judge | None, timeout: str
            ) -> Observation | DeployedFunction:
    """Wait for an accepted deployment to end ACTIVE or ERROR: ERROR is a refusal (it must name an
    offender), ACTIVE is the deployed function; neither within `timeout` is a FAIL."""
    fid, vid = str(function["id"]), str(function["versionId"])
    try:
        watch = functions.wait(fid, vid, {"ACTIVE", "ERROR"}, timeout)
    except WaitTimeout as exc:
        raise Nonconformant(f"neither refused nor ACTIVE: {exc}", "timed-out") from None
    if watch.final == "ERROR":
        reason = functions.client.failure_reason(fid, vid)
        return _refusal(functions, rule, record, "deployment-error", reason, offenders, judge)
    return DeployedFunction(chart, fid, vid, str(function.get("name")), deploy, watch, functions.client)
