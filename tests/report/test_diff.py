"""`report diff`: which changes between two sealed reports are regressions, and how they are shown."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from report_fixtures import meta, result, write_results

from conformance.catalog.load import Catalog
from conformance.cli import main
from conformance.report import diff, diff_text
from conformance.report.build import build_report
from conformance.report.model import TestResult as Result  # not `Test*`: pytest would collect it


def _items(**changes: dict[str, object]) -> list[Result]:
    """One item per rule of the small catalog, all PASS, with `changes` per rule id (R_MUST=…)."""
    items = [result("R-MUST", "PASS", outcome="refused-at-creation"), result("R-SHOULD", "PASS", "SHOULD"),
             result("R-EXT", "PASS", "EXT", profiles=("ext",))]
    return [replace(i, **changes.get(i.rule_id.replace("-", "_"), {})) for i in items]  # type: ignore[arg-type]


@pytest.fixture
def report(tmp_path: Path, small_catalog: Catalog):
    counter = iter(range(100))

    def make(items: list[Result], catalog: Catalog | None = None, run_id: str = "r1") -> Path:
        folder = tmp_path / f"report{next(counter)}"
        write_results(folder / "results", {"gw0": items}, meta(("ext",), run_id=run_id))
        build_report(folder / "results", folder, catalog=catalog or small_catalog)
        return folder

    return make


def _diff(old: Path, new: Path, **thresholds: float) -> diff.Diff:
    return diff.compare(diff.load_report(old, "OLD"), diff.load_report(new, "NEW"), diff.Thresholds(**thresholds))


def test_a_rule_newly_failing_is_a_regression(report, capsys: pytest.CaptureFixture[str]) -> None:
    old = report(_items(), run_id="night-1")
    new = report(_items(R_MUST={"status": "FAIL", "message": "the pexec answer has no NVCF-REQID",
                                "outcome": None}), run_id="night-2")
    found = _diff(old, new)
    assert [(c.rule_id, c.old_status, c.new_status) for c in found.newly_failing] == [("R-MUST", "PASS", "FAIL")]
    assert found.regressed and [(v.profile, v.old, v.new) for v in found.verdicts] == [("core", "success", "failure")]
    capsys.readouterr()
    assert main(["report", "diff", str(old), str(new)]) == 1
    out = capsys.readouterr().out
    assert "REGRESSED: 1 newly failing (R-MUST), verdict core success → failure\n" in out
    assert "Newly failing (1)\n  R-MUST  MUST  PASS → FAIL\n" in out
    assert "test_area.py::test_r_must[minimal-http]  PASS → FAIL: the pexec answer has no NVCF-REQID" in out
    assert main(["report", "diff", str(old), str(new), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["regressed"] is True and data["newly_failing"][0]["rule_id"] == "R-MUST"
    assert data["old"]["run_id"] == "night-1" and len(data["new"]["digest"]) == 64


def test_fixed_and_unchanged_are_no_regression(report, capsys: pytest.CaptureFixture[str]) -> None:
    failing = report(_items(R_MUST={"status": "FAIL"}))
    passing = report(_items())
    found = _diff(failing, passing)
    assert [c.rule_id for c in found.fixed] == ["R-MUST"] and not found.regressed
    assert main(["report", "diff", str(failing), str(passing)]) == 0
    assert main(["report", "diff", str(passing), str(passing)]) == 0
    assert "no change in verdicts, statuses, outcomes or durations" in capsys.readouterr().out


def test_new_errors_are_a_regression_item_by_item(report) -> None:
    old = report(_items(R_SHOULD={"status": "ERROR", "message": "registry away"}))
    new = report(_items(R_SHOULD={"status": "ERROR", "message": "registry away"},
                        R_EXT={"status": "ERROR", "message": "timed out"}))
    found = _diff(old, new)
    assert [(c.rule_id, [i.new_status for i in c.items]) for c in found.new_errors] == [("R-EXT", ["ERROR"])]
    assert found.regressed and not found.status_changed  # R-SHOULD errored both times: nothing new


def test_outcome_and_refusal_phase_changes(report) -> None:
    old = report(_items())
    new = report(_items(R_MUST={"outcome": "refused-at-deployment"}))
    found = _diff(old, new)
    assert [(i.old_outcome, i.new_outcome) for c in found.outcome_changed for i in c.items] == [
        ("refused-at-creation", "refused-at-deployment")]
    assert not found.regressed
    assert "refused-at-creation → refused-at-deployment" in diff_text.render(found)


def test_slower_needs_the_factor_and_the_floor(report) -> None:
    old = report(_items())  # every item 1.25 s
    new = report(_items(R_MUST={"duration_s": 30.0}, R_SHOULD={"duration_s": 2.6}))
    found = _diff(old, new)
    assert [(c.rule_id, c.items[0].new_duration_s) for c in found.slower] == [("R-MUST", 30.0)]
    assert not found.regressed
    assert {c.rule_id for c in _diff(old, new, factor=2.0, floor_s=1.0).slower} == {"R-MUST", "R-SHOULD"}
    assert "1.2 s → 30.0 s (x24.0)" in diff_text.render(found)


def test_newly_flaky_is_a_regression(report) -> None:
    from conformance.report.model import Attempt

    attempts = (Attempt(1, "FAIL", "no header"), Attempt(2, "PASS"))
    old = report(_items())
    new_doc = diff.load_report(old, "x")
    rule = next(r for r in new_doc["rules"] if r["id"] == "R-MUST")
    rule["status"] = "FLAKY"
    rule["items"][0].update(status="FLAKY", counts_as="FAIL", attempts=[a.to_dict() for a in attempts])
    found = diff.compare(diff.load_report(old, "OLD"), new_doc)
    assert [c.rule_id for c in found.newly_flaky] == ["R-MUST"] and found.regressed


def test_catalog_changes_and_rules_run_once(report, small_catalog: Catalog) -> None:
    smaller = Catalog(path=small_catalog.path, rules=small_catalog.rules[:2])
    old = report(_items()[:2], catalog=smaller)
    new = report([*_items()[:1], result("R-EXT", "PASS", "EXT", profiles=("ext",))])
    found = _diff(old, new)
    assert [(c.rule_id, c.new_status) for c in found.rules_added] == [("R-EXT", "PASS")]
    assert found.only_in_old == ("R-SHOULD",) and not found.regressed


def test_tampered_or_unreadable_reports_are_exit_2(report, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    good = report(_items())
    bad = report(_items())
    yaml_file = bad / "conformance-report.yaml"
    yaml_file.write_text(yaml_file.read_text().replace("verdict: success", "verdict: failure", 1))
    capsys.readouterr()
    assert main(["report", "diff", str(good), str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nvcf-conformance: error: NEW: TAMPERED:") and "\n" not in err
    assert main(["report", "diff", str(tmp_path / "missing"), str(good)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nvcf-conformance: error: OLD: unreadable:") and "\n" not in err
    with pytest.raises(SystemExit) as usage:
        main(["report", "diff", str(good), str(good), "--slower-factor", "0.5"])
    assert usage.value.code == 2


def test_the_json_form_can_be_sealed(report) -> None:
    from conformance.report import digest

    old = report(_items())
    new = report(_items(R_MUST={"status": "FAIL"}, R_EXT={"duration_s": 40.0}))
    data = _diff(old, new).to_dict()
    digest.seal({"baseline": data})  # raises on anything YAML would not give back as written
    assert data["counts"]["newly_failing"] == 1 and data["slower"][0]["items"][0]["new_duration_s"] == 40.0


def test_a_built_report_carries_the_baseline(report, small_catalog: Catalog) -> None:
    old = report(_items(), run_id="night-1")
    new = report(_items(R_EXT={"status": "FAIL", "message": "the extension broke"}), run_id="night-2")
    built = build_report(new / "results", new, catalog=small_catalog, baseline=diff.load_report(old, "--baseline"))
    assert built.exit_code == 0  # EXT failing is `partial`: the diff does not change the exit code
    assert built.context.baseline is not None
    assert diff_text.summary(built.context.baseline) == (
        "baseline night-1: REGRESSED: 1 newly failing (R-EXT), verdict ext success → partial")
    assert main(["report", "verify", str(new)]) == 0  # the comparison is inside the digest
    sealed = diff.load_report(new, "NEW")["baseline"]
    assert sealed["old"]["run_id"] == "night-1" and sealed["new"]["digest"] is None
    page = (new / "summary.html").read_text()
    assert '<div class="alert diff"><b>Compared with run <code>night-1</code></b>' in page
