"""A rule whose collected items did not all report is INCOMPLETE, never PASS: 4 of 13 variants passing is
not the rule passing. The plugin records what it collected; the report compares."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import httpcore
import httpx
import pytest
import yaml
from report_fixtures import meta, result, write_collected, write_results

import conformance.plugin
from conformance.catalog.load import Catalog
from conformance.report import html, junit, yaml_report
from conformance.report.build import BuiltReport, build_report
from conformance.report.context import ReportContext, build_context
from conformance.report.load import load_run
from conformance.report.model import TestResult as Result
from conformance.report.verdict import INCOMPLETE, NOT_RUN, rollup
from conformance.run.cli import _print_outcome

# pytester's in-process runs drop modules first imported inside them (see tests/harness/test_plugin.py).
_KEEP_LOADED = (httpcore, httpx, conformance.plugin)


def _variants(rule_id: str, statuses: list[str], level: str = "MUST") -> list[Result]:
    return [result(rule_id, status, level, param=f"v{i}", nodeid=f"suites/test_a.py::test_{rule_id}[v{i}]")
            for i, status in enumerate(statuses)]


def _context(tmp_path: Path, catalog: Catalog, collected: list[Result], reported: list[Result],
             *, complete: bool = False, collected_by: tuple[str, ...] = ("gw0",)) -> ReportContext:
    folder = tmp_path / "results"
    write_results(folder, {"gw0": reported}, meta(("ext",), complete=complete))
    for worker in collected_by:
        write_collected(folder, worker, collected)
    return build_context(load_run(folder), catalog)


def _interrupted(tmp_path: Path, catalog: Catalog, must: list[str]) -> ReportContext:
    """R-MUST has 13 variants, the first ones reported with `must`; the other rules passed."""
    variants = _variants("R-MUST", ["PASS"] * 13)
    others = [result("R-SHOULD", "PASS", "SHOULD", nodeid="suites/test_b.py::test_should"),
              result("R-EXT", "PASS", "EXT", profiles=("ext",), nodeid="suites/test_b.py::test_ext")]
    reported = [*_variants("R-MUST", must), *others]
    return _context(tmp_path, catalog, [*variants, *others], reported)


def test_rollup() -> None:
    assert rollup(["PASS"], unreported=9) == INCOMPLETE
    assert rollup(["PASS", "SKIP"], unreported=1) == INCOMPLETE
    assert rollup(["ERROR", "PASS"], unreported=1) == "ERROR"
    assert rollup(["FAIL"], unreported=12) == "FAIL"  # what ran already proves the rule broken
    assert rollup([], unreported=3) == NOT_RUN
    assert rollup(["PASS"]) == "PASS"


def test_an_interrupted_rule_is_incomplete_not_pass(tmp_path: Path, small_catalog: Catalog) -> None:
    ctx = _interrupted(tmp_path, small_catalog, ["PASS"] * 4)
    rule = next(o for o in ctx.outcomes if o.rule_id == "R-MUST")
    assert rule.status == INCOMPLETE and len(rule.unreported) == 9
    core = next(v for v in ctx.verdicts if v.profile == "core")
    assert core.verdict == "error" and "not every item ran: R-MUST" in core.reasons
    assert core.counts == {INCOMPLETE: 1, "PASS": 1}
    assert ctx.exit_code == 2


def test_the_yaml_html_and_junit_show_it(tmp_path: Path, small_catalog: Catalog) -> None:
    ctx = _interrupted(tmp_path, small_catalog, ["PASS"] * 4)
    document = yaml_report.document(ctx, {})
    rule = next(r for r in document["rules"] if r["id"] == "R-MUST")
    assert rule["status"] == INCOMPLETE and rule["counts"] == {"PASS": 4}
    assert rule["unreported_items"] == [f"suites/test_a.py::test_R-MUST[v{i}]" for i in range(4, 13)]
    assert document["summary"]["unreported"] == 9
    assert document["verdicts"]["core"]["rule_statuses"][INCOMPLETE] == 1
    page = html.render(ctx).decode()
    assert 'class="badge s-INCOMPLETE">INCOMPLETE<' in page and "only 4 of 13 items reported" in page
    suite = next(s for s in ET.fromstring(junit.render(ctx)).iter("testsuite") if s.get("name") == "R-MUST")
    assert suite.get("tests") == "13" and suite.get("errors") == "9"
    assert len(suite.findall("testcase/error[@type='not run']")) == 9
    assert suite.find("properties/property[@name='rule_status']").get("value") == INCOMPLETE  # type: ignore[union-attr]


def test_the_console_names_the_rule(tmp_path: Path, small_catalog: Catalog) -> None:
    ctx = _interrupted(tmp_path, small_catalog, ["PASS"] * 4)
    out = io.StringIO()
    _print_outcome(BuiltReport(tmp_path, ctx, ()), out)
    assert "  INCOMPLETE rule(s), not every item ran: R-MUST\n" in out.getvalue()
    assert "  INCOMPLETE: 9 of 15 collected test item(s) did not report a result\n" in out.getvalue()


def test_a_failure_among_the_run_variants_still_fails(tmp_path: Path, small_catalog: Catalog) -> None:
    ctx = _interrupted(tmp_path, small_catalog, ["PASS", "FAIL", "PASS"])
    assert next(o for o in ctx.outcomes if o.rule_id == "R-MUST").status == "FAIL"
    assert next(v for v in ctx.verdicts if v.profile == "core").verdict == "failure"


def test_unreported_items_make_a_finished_run_incomplete(tmp_path: Path, small_catalog: Catalog) -> None:
    # `-x`, `--maxfail` or a crashed xdist worker end the session "normally" with items never run.
    variants = _variants("R-MUST", ["PASS"] * 13)
    ctx = _context(tmp_path, small_catalog, variants, variants[:4], complete=True, collected_by=("gw0", "gw1"))
    assert not ctx.complete
    assert ctx.incomplete_reasons == ["9 of 13 collected test item(s) did not report a result"]
    assert all(v.verdict == "error" for v in ctx.verdicts)


def test_every_item_reported_is_unchanged(tmp_path: Path, small_catalog: Catalog) -> None:
    variants = _variants("R-MUST", ["PASS"] * 13)
    ctx = _context(tmp_path, small_catalog, variants, variants, complete=True, collected_by=("gw0", "gw1"))
    assert ctx.complete and next(o for o in ctx.outcomes if o.rule_id == "R-MUST").status == "PASS"


def test_results_of_an_older_plugin_without_collected_files(tmp_path: Path, small_catalog: Catalog) -> None:
    folder = write_results(tmp_path / "results", {"gw0": _variants("R-MUST", ["PASS"] * 4)}, meta(complete=True))
    ctx = build_context(load_run(folder), small_catalog)
    assert next(o for o in ctx.outcomes if o.rule_id == "R-MUST").status == "PASS"


def test_an_unreadable_collected_file_is_a_warning(tmp_path: Path, small_catalog: Catalog) -> None:
    folder = write_results(tmp_path / "results", {"gw0": _variants("R-MUST", ["PASS"])}, meta(complete=True))
    (folder / "collected-gw0.json").write_text('{"rules": ')
    run = load_run(folder)
    assert any("collected-gw0.json is unreadable" in w for w in run.warnings) and run.collected == {}


# ── the plugin records what it collected ─────────────────────────────────────────────────────────────

HEADER = "import pytest\n"
THIRTEEN = HEADER + """
@pytest.mark.rule("FN-VERSION-DELETE")
@pytest.mark.parametrize("param", [f"v{i}" for i in range(13)])
def test_variant(param):
    if param == "v4":
        raise KeyboardInterrupt

@pytest.mark.rule("FN-CREATE-HELM")
def test_other(): pass
"""


def _plugin_args(pytester: pytest.Pytester) -> list[str]:
    config = pytester.path / "target.yaml"
    config.write_text("implementation: {name: fake, version: '0'}\n"
                      "nvcf: {gateway: '127.0.0.1:9', token: tok-report-test-1234, api_key: key-report-test-5678}\n")
    return ["-p", "conformance.plugin", "--target-config", str(config), "--results-dir",
            str(pytester.path / "results"), "--run-id", "t1", "-p", "no:cacheprovider", "-o", "addopts="]


def _collected(results: Path, worker: str = "main") -> dict[str, list[str]]:
    return json.loads((results / f"collected-{worker}.json").read_text())["rules"]


def test_the_plugin_records_collected_items_and_an_interrupted_rule_is_incomplete(
        pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(test_suite=THIRTEEN)
    results = pytester.path / "results"
    results.mkdir()
    (results / "collected-gw7.json").write_text('{"rules": {"FN-CREATE-HELM": ["stale::item"]}}')
    ran = pytester.runpytest_subprocess(*_plugin_args(pytester), timeout=120)
    assert ran.ret == pytest.ExitCode.INTERRUPTED
    collected = _collected(results)
    assert len(collected["FN-VERSION-DELETE"]) == 13 and collected["FN-CREATE-HELM"] == ["test_suite.py::test_other"]
    assert not (results / "collected-gw7.json").exists()  # another run's list is not this run's
    built = build_report(results, tmp_path / "report", interrupted=True)
    rule = next(r for r in yaml.safe_load(built.report_file.read_text())["rules"] if r["id"] == "FN-VERSION-DELETE")
    assert rule["status"] == INCOMPLETE and rule["counts"] == {"PASS": 4} and len(rule["unreported_items"]) == 9


def test_deselected_items_are_not_expected(pytester: pytest.Pytester) -> None:
    # -k runs after the plugin's own selection: only what is left at the end of collection must report.
    pytester.makepyfile(test_suite=THIRTEEN)
    ran = pytester.runpytest(*_plugin_args(pytester), "-k", "test_other")
    ran.assert_outcomes(passed=1, deselected=13)
    assert _collected(pytester.path / "results") == {"FN-CREATE-HELM": ["test_suite.py::test_other"]}


def test_each_xdist_worker_records_what_it_collected(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(test_suite=THIRTEEN.replace("raise KeyboardInterrupt", "pass"))
    ran = pytester.runpytest_subprocess(*_plugin_args(pytester), "-n", "2", timeout=120)
    assert ran.ret == pytest.ExitCode.OK
    results = pytester.path / "results"
    assert _collected(results, "gw0") == _collected(results, "gw1")
    built = build_report(results, tmp_path / "report")
    assert built.context.complete, built.context.incomplete_reasons
