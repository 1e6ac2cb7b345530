"""Chart hooks are never executed: no hook object exists; a hook of a forbidden kind is not judged as a kind."""

from __future__ import annotations

import re
from typing import Any

import pytest

from conformance.client import Nonconformant, WaitTimeout
from conformance.inspect import hook_objects, summary
from conformance.plugin import ChartRef, ChartSet, DeployedFunction, Expect, Functions, ItemRecord, variants
from conformance.plugin.outcomes import check_answers
from suites._helpers import case_object_refs, case_overlay


def _no_hooks(inspector: Any, case: str, record: ItemRecord | None = None, *, deployed: bool = True) -> str:
    # While deployed the chart's own objects must show, or "no hook among them" proves nothing.
    objects = inspector.case_objects(case) if deployed else inspector.objects(case)
    if record is not None:
        record.cluster_objects = objects
    found = hook_objects(objects, case_object_refs(case))
    if found:
        raise Nonconformant(f"hook objects exist in the cluster: {', '.join(map(summary, found))}",
                            "deployed-violating")
    return f"{len(objects)} objects of the case, none of them a hook"


@pytest.mark.rule("HOOKS-NOT-RUN")
@pytest.mark.parametrize(("param", "case"), variants("HOOKS-NOT-RUN"))
def test_hooks_not_run(param: str, case: str, charts: ChartSet, expect: Expect, inspector: Any) -> None:
    def check(deployed: DeployedFunction) -> tuple[str, str]:
        detail = _no_hooks(inspector, case) if inspector is not None else "ACTIVE and answering"
        return "deployed-conformant", detail

    expect.deployed_or_refused(charts[case], offenders=["hook", param], check=check)


@pytest.mark.rule("HOOKS-NOT-CREATED")
@pytest.mark.parametrize(("param", "case"), variants("HOOKS-NOT-CREATED"))
def test_hook_objects_never_created(param: str, case: str, charts: ChartSet, expect: Expect, cluster: Any,
                                    functions: Functions, record: ItemRecord) -> None:
    def check(deployed: DeployedFunction) -> tuple[str, str]:
        detail = _no_hooks(cluster, case, record)
        # Delete hooks would run at uninstall: undeploy now and look again.
        functions.client.delete_deployment(deployed.function_id, deployed.version_id).expect(200, 202, 204)
        functions.wait(deployed.function_id, deployed.version_id, {"INACTIVE"}, "timeouts.undeploy")
        _no_hooks(cluster, case, deployed=False)
        return "deployed-object-skipped", detail + "; none after undeployment either"

    expect.deployed_or_refused(charts[case], offenders=["hook", param], check=check)


# The hook annotation, or "hook(s)" as a word of its own once names that merely contain it are gone.
_SAYS_HOOK = re.compile(r"helm\.sh/hook|\bhooks?\b", re.IGNORECASE)


def _names_hook_as_hook(error: str, chart: ChartRef) -> bool:
    """Whether `error` speaks of a hook, not merely of the chart, template or object whose name has 'hook'.

    The case's chart is hook-forbidden-kind and its object hook-daemonset: an error refusing
    "DaemonSet/hook-daemonset (hook-forbidden-kind/templates/hook-daemonset.yaml)" as a forbidden kind
    contains the letters h-o-o-k three times but judges the hook as an object, which the rule forbids.
    """
    names = {chart.helm_chart, chart.chart, *case_overlay(chart.case).templates,
             *(name for _, name in case_object_refs(chart.case))}
    text = error
    for name in sorted(names, key=len, reverse=True):  # longest first: the URL holds the chart's name
        text = re.sub(re.escape(name), " ", text, flags=re.IGNORECASE)
    return _SAYS_HOOK.search(text) is not None


def _refusal(expect: Expect, chart: ChartRef, outcome: str, error: str) -> None:
    short = " ".join(error.split())[:300]
    if not _names_hook_as_hook(error, chart):
        raise Nonconformant(f"{outcome.replace('-', ' ')}, but the error does not name the hook as a hook (only "
                            f"the kind, or names that contain 'hook'): {short!r}", "refused-not-naming-offender")
    expect.observed(outcome, f"{outcome}: names the hook: {short}")


@pytest.mark.rule("HOOK-FORBIDDEN-KIND-IGNORED")
@pytest.mark.case("hook-forbidden-kind")
def test_hook_of_forbidden_kind_ignored(charts: ChartSet, functions: Functions, expect: Expect,
                                        inspector: Any) -> None:
    # expect.deployed_or_refused's flow, with a stricter judge of refusals: its substring match would
    # accept any error that names the chart or the object, and both contain "hook".
    chart = charts["hook-forbidden-kind"]
    created = functions.create(chart)
    if 400 <= created.status_code < 500:
        return _refusal(expect, chart, "refused-at-creation", created.error_text)
    created.expect(200, 201)
    function = created.field("function")
    fid, vid = str(function["id"]), str(function["versionId"])
    deploy = functions.deploy(fid, vid, functions.spec(chart))
    if 400 <= deploy.status_code < 500:
        return _refusal(expect, chart, "refused-at-deployment", deploy.error_text)
    deploy.expect(200, 201, 202)
    try:
        watch = functions.wait(fid, vid, {"ACTIVE", "ERROR"}, "timeouts.deploy_active")
    except WaitTimeout as exc:
        raise Nonconformant(f"neither refused nor ACTIVE: {exc}", "timed-out") from None
    if watch.final == "ERROR":
        reason = functions.client.failure_reason(fid, vid) or "(no reason given)"
        return _refusal(expect, chart, "deployment-error-naming-offender", reason)
    deployed = DeployedFunction(chart, fid, vid, str(function.get("name")), deploy, watch, functions.client)
    answered = check_answers(deployed)
    if inspector is None:
        return expect.observed("deployed-conformant", f"ACTIVE, {answered}: the hook's kind was not held against it")
    return expect.observed("deployed-object-skipped", _no_hooks(inspector, "hook-forbidden-kind"))
