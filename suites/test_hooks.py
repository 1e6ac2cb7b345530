"""Chart hooks are never executed: no hook object exists; a hook of a forbidden kind is not judged as a kind."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from conformance.client import Nonconformant
from conformance.inspect import hook_objects, summary
from conformance.plugin import ChartRef, ChartSet, DeployedFunction, Expect, Functions, ItemRecord, variants
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


def _names_hook_as_hook(chart: ChartRef) -> Callable[[str], str | None]:
    """A refusal judge: does the error speak of a hook, not merely of the chart, template or object whose
    name has 'hook'?

    The case's chart is hook-forbidden-kind and its object hook-daemonset: an error refusing
    "DaemonSet/hook-daemonset (hook-forbidden-kind/templates/hook-daemonset.yaml)" as a forbidden kind
    contains the letters h-o-o-k three times but judges the hook as an object, which the rule forbids.
    """
    names = {chart.helm_chart, chart.chart, *case_overlay(chart.case).templates,
             *(name for _, name in case_object_refs(chart.case))}

    def judge(error: str) -> str | None:
        text = error
        for name in sorted(names, key=len, reverse=True):  # longest first: the URL holds the chart's name
            text = re.sub(re.escape(name), " ", text, flags=re.IGNORECASE)
        found = _SAYS_HOOK.search(text)
        return found.group(0) if found else None

    return judge


@pytest.mark.rule("HOOK-FORBIDDEN-KIND-IGNORED")
@pytest.mark.case("hook-forbidden-kind")
def test_hook_of_forbidden_kind_ignored(chart: ChartRef, expect: Expect, inspector: Any) -> None:
    def check(deployed: DeployedFunction) -> tuple[str, str]:
        if inspector is None:
            return "deployed-conformant", "ACTIVE and answering: the hook's kind was not held against the chart"
        return "deployed-object-skipped", _no_hooks(inspector, "hook-forbidden-kind")

    # A refusal must name the hook as a hook, not the DaemonSet kind nor a name that contains "hook".
    expect.deployed_or_refused(chart, offenders=["hook"], judge=_names_hook_as_hook(chart), check=check)
