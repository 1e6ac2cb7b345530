"""The roll-up and verdict rules of conformance/report/verdict.py, status by status and level by level."""

from __future__ import annotations

import itertools

import pytest
from report_fixtures import MakeContext, meta, result

from conformance.report.model import STATUSES
from conformance.report.verdict import NOT_RUN, Selection, exit_code, rollup

# The documented order, written out independently of the implementation.
RANK = ["FAIL", "XFAIL", "ERROR", "XPASS", "PASS", "SKIP"]


def test_rollup_of_nothing_is_not_run() -> None:
    assert rollup([]) == NOT_RUN


@pytest.mark.parametrize("statuses", list(itertools.combinations_with_replacement(STATUSES, 2))
                         + list(itertools.combinations(STATUSES, 3)))
def test_rollup_takes_the_highest_ranked_status(statuses: tuple[str, ...]) -> None:
    assert rollup(statuses) == min(statuses, key=RANK.index)


@pytest.mark.parametrize(("statuses", "expected"), [
    (("PASS", "FAIL"), "FAIL"),
    (("ERROR", "FAIL"), "FAIL"),       # a failing item proves the rule broken whatever else happened
    (("PASS", "ERROR"), "ERROR"),      # an unjudged item leaves the rule unproven
    (("PASS", "SKIP"), "PASS"),
    (("SKIP", "SKIP"), "SKIP"),
    (("XFAIL", "ERROR"), "XFAIL"),     # an expected failure still is a failure
    (("XPASS", "PASS"), "XPASS"),
])
def test_rollup_examples(statuses: tuple[str, ...], expected: str) -> None:
    assert rollup(statuses) == expected


# One item of a rule of the given level → the verdict of the profile that rule belongs to.
SINGLE = {
    "MUST": {"PASS": "success", "FAIL": "failure", "ERROR": "error", "SKIP": "error", "XFAIL": "failure",
             "XPASS": "success"},
    "SHOULD": {"PASS": "success", "FAIL": "partial", "ERROR": "error", "SKIP": "success", "XFAIL": "partial",
               "XPASS": "success"},
    "EXT": {"PASS": "success", "FAIL": "partial", "ERROR": "error", "SKIP": "success", "XFAIL": "partial",
            "XPASS": "success"},
}


@pytest.mark.parametrize("level", ["MUST", "SHOULD", "EXT"])
@pytest.mark.parametrize("status", STATUSES)
def test_single_item_verdict_per_level(make_context: MakeContext, level: str, status: str) -> None:
    rule_id, profile = {"MUST": ("R-MUST", "core"), "SHOULD": ("R-SHOULD", "core"), "EXT": ("R-EXT", "ext")}[level]
    items = [result(rule_id, status, level)]
    # The other rules of the catalog pass, so only this item decides.
    items += [result(r, "PASS", lvl, profiles=p) for r, lvl, p in
              (("R-MUST", "MUST", ("core",)), ("R-SHOULD", "SHOULD", ("core",)), ("R-EXT", "EXT", ("ext",)))
              if r != rule_id]
    ctx = make_context(items)
    verdicts = {v.profile: v.verdict for v in ctx.verdicts}
    assert verdicts[profile] == SINGLE[level][status]


def expected_core(must: str, should: str) -> str:
    """The documented verdict rule for a profile with one MUST and one SHOULD rule."""
    fail = {"FAIL", "XFAIL"}
    if must in fail:
        return "failure"
    if "ERROR" in (must, should) or must == "SKIP":
        return "error"
    if should in fail:
        return "partial"
    return "success"


@pytest.mark.parametrize(("must", "should"), list(itertools.product(STATUSES, STATUSES)))
@pytest.mark.parametrize("complete", [True, False])
def test_verdict_table_must_and_should(make_context: MakeContext, must: str, should: str, complete: bool) -> None:
    ctx = make_context([result("R-MUST", must), result("R-SHOULD", should, "SHOULD"),
                        result("R-EXT", "PASS", "EXT", profiles=("ext",))], run_meta=meta(("ext",), complete=complete))
    core = next(v for v in ctx.verdicts if v.profile == "core")
    expected = expected_core(must, should)
    if not complete and expected != "failure":
        expected = "error"  # an incomplete run is never success or partial; a MUST failure stays a failure
    assert core.verdict == expected


@pytest.mark.parametrize("status", STATUSES)
def test_incomplete_run_is_never_success(make_context: MakeContext, status: str) -> None:
    items = [result("R-MUST", "PASS"), result("R-SHOULD", status, "SHOULD"), result("R-EXT", "PASS", "EXT",
                                                                                       profiles=("ext",))]
    for ctx in (make_context(items, run_meta=meta(("ext",), complete=False)), make_context(items, interrupted=True)):
        assert not ctx.complete
        assert {v.verdict for v in ctx.verdicts} <= {"error"}
        assert ctx.exit_code == 2
        assert "the run is incomplete" in ctx.certification_problems()


def test_missing_meta_is_incomplete(make_context: MakeContext) -> None:
    ctx = make_context([result("R-MUST", "PASS")], write_meta=False)
    assert not ctx.complete
    assert any("run-meta.json is missing" in r for r in ctx.incomplete_reasons)


def test_rule_without_result_prevents_a_verdict(make_context: MakeContext) -> None:
    ctx = make_context([result("R-MUST", "PASS")])
    core = next(v for v in ctx.verdicts if v.profile == "core")
    assert core.verdict == "error"
    assert any("no result for: R-SHOULD" in r for r in core.reasons)


def test_out_of_scope_rules_do_not_count(make_context: MakeContext) -> None:
    # ext not claimed: R-EXT failing must not touch any verdict, and there is no ext verdict.
    ctx = make_context([result("R-MUST", "PASS"), result("R-SHOULD", "PASS", "SHOULD"),
                        result("R-EXT", "FAIL", "EXT", profiles=("ext",))], run_meta=meta(()))
    assert [(v.profile, v.verdict) for v in ctx.verdicts] == [("core", "success")]
    assert ctx.exit_code == 0


def test_selection_limits_the_scope(make_context: MakeContext) -> None:
    ctx = make_context([result("R-MUST", "PASS")], selection=Selection(rules=("R-MUST",)))
    assert [(v.profile, v.verdict) for v in ctx.verdicts] == [("core", "success")]  # ext untouched: left out
    assert "the run was limited with --rule/--case" in ctx.certification_problems()


def test_catalog_level_wins_over_the_result(make_context: MakeContext) -> None:
    ctx = make_context([result("R-MUST", "FAIL", "SHOULD"), result("R-SHOULD", "PASS", "SHOULD"),
                        result("R-EXT", "PASS", "EXT", profiles=("ext",))])
    assert next(v for v in ctx.verdicts if v.profile == "core").verdict == "failure"
    assert any("R-MUST" in w and "level" in w for w in ctx.warnings)


def test_unknown_rule_is_shown_but_not_counted(make_context: MakeContext) -> None:
    ctx = make_context([result("R-MUST", "PASS"), result("R-SHOULD", "PASS", "SHOULD"),
                        result("R-EXT", "PASS", "EXT", profiles=("ext",)), result("R-NEW", "FAIL")])
    assert ctx.exit_code == 0
    unknown = next(o for o in ctx.outcomes if o.rule_id == "R-NEW")
    assert not unknown.known and not unknown.in_scope


def test_expectations_are_not_certifiable(make_context: MakeContext) -> None:
    ctx = make_context([result("R-MUST", "XPASS"), result("R-SHOULD", "PASS", "SHOULD"),
                        result("R-EXT", "PASS", "EXT", profiles=("ext",))])
    assert ctx.exit_code == 0
    assert any("expectations" in p for p in ctx.certification_problems())


@pytest.mark.parametrize(("verdicts", "code"), [
    (["success"], 0), (["success", "partial"], 0), (["partial", "failure"], 1), (["failure", "error"], 1),
    (["success", "error"], 2), ([], 2),
])
def test_exit_code(verdicts: list[str], code: int) -> None:
    from conformance.report.verdict import ProfileVerdict

    assert exit_code([ProfileVerdict(f"p{i}", v, (), ()) for i, v in enumerate(verdicts)]) == code  # type: ignore[arg-type]
