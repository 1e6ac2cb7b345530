"""Rerun attempts in the report: FLAKY and what it counts as, attempts in every format, the manifest."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from report_fixtures import meta, result, write_collected, write_results

from conformance.catalog.load import Catalog
from conformance.cli import main
from conformance.report import html, junit, reruns
from conformance.report.attempts import combined_status, merge
from conformance.report.build import build_report
from conformance.report.load import load_run
from conformance.report.model import TestResult as Result  # not `Test*`: pytest would collect it
from conformance.report.verdict import rollup
from conformance.run.rerun import node_argument, pytest_item


@pytest.mark.parametrize(("statuses", "expected"), [
    (("FAIL", "PASS"), "FLAKY"),
    (("ERROR", "PASS"), "FLAKY"),
    (("FAIL", "FAIL", "PASS"), "FLAKY"),
    (("FAIL", "ERROR", "FAIL"), "FAIL"),   # never passed: the most severe
    (("ERROR", "FAIL"), "FAIL"),           # an ERROR that then FAILs is a failure
    (("ERROR", "ERROR"), "ERROR"),
    (("FAIL", "XPASS"), "FLAKY"),
])
def test_combined_status(statuses: tuple[str, ...], expected: str) -> None:
    assert combined_status(statuses) == expected


def test_flaky_ranks_below_failures_and_above_errors() -> None:
    assert rollup(["FLAKY", "FAIL"]) == "FAIL"
    assert rollup(["FLAKY", "XFAIL"]) == "XFAIL"
    assert rollup(["FLAKY", "ERROR", "PASS"]) == "FLAKY"
    assert rollup(["FLAKY", "PASS"]) == "FLAKY"


def write_attempts(results_dir: Path, attempts: dict[int, list[Result]], requested: int = 2) -> None:
    """Attempt folders and reruns.json as `run --rerun-failures` leaves them."""
    plan = []
    for number, results in attempts.items():
        folder = reruns.attempt_folder(number)
        write_results(results_dir / folder, {"main": results}, meta(("ext",)))
        plan.append(reruns.RerunAttempt(number, folder, tuple(r.nodeid for r in results)))
    reruns.write(results_dir, reruns.Reruns(requested, tuple(plan)))


def _run_with(tmp_path: Path, first: list[Result], attempts: dict[int, list[Result]]) -> Path:
    results_dir = tmp_path / "report" / "results"
    write_results(results_dir, {"gw0": first}, meta(("ext",)))
    write_collected(results_dir, "gw0", first)
    write_attempts(results_dir, attempts)
    return results_dir


def _base(must: str = "PASS") -> list[Result]:
    return [result("R-MUST", must, message="no NVCF-REQID header" if must == "FAIL" else ""),
            result("R-SHOULD", "PASS", "SHOULD"), result("R-EXT", "PASS", "EXT", profiles=("ext",))]


def test_merge_makes_flaky_with_every_attempt(tmp_path: Path) -> None:
    first = _base("FAIL")
    folder = _run_with(tmp_path, first, {2: [replace(first[0], status="PASS", message="200 with NVCF-REQID")]})
    run, plan = merge(load_run(folder), folder)
    assert plan is not None and plan.requested == 2
    item = next(r for r in run.results if r.rule_id == "R-MUST")
    assert item.status == "FLAKY"
    assert [(a.attempt, a.status, a.message) for a in item.attempts] == [
        (1, "FAIL", "no NVCF-REQID header"), (2, "PASS", "200 with NVCF-REQID")]
    assert item.message == "no NVCF-REQID header"  # the failing attempt stands for the item
    assert all(not r.attempts for r in run.results if r.rule_id != "R-MUST")


def test_a_failure_every_time_stays_fail_with_its_attempts(tmp_path: Path) -> None:
    first = _base("FAIL")
    folder = _run_with(tmp_path, first, {2: [first[0]], 3: [replace(first[0], status="ERROR", message="timeout")]})
    run, _ = merge(load_run(folder), folder)
    item = next(r for r in run.results if r.rule_id == "R-MUST")
    assert item.status == "FAIL" and [a.status for a in item.attempts] == ["FAIL", "FAIL", "ERROR"]


@pytest.mark.parametrize(("level", "first", "rerun", "verdict"), [
    ("MUST", "FAIL", "PASS", "failure"),     # failed a MUST sometimes: failed it
    ("MUST", "ERROR", "PASS", "error"),      # errors and passes: no verdict
    ("SHOULD", "FAIL", "PASS", "partial"),
    ("SHOULD", "ERROR", "PASS", "error"),
])
def test_flaky_never_counts_as_pass(tmp_path: Path, small_catalog: Catalog, level: str, first: str, rerun: str,
                                    verdict: str) -> None:
    rule_id = {"MUST": "R-MUST", "SHOULD": "R-SHOULD"}[level]
    items = [result("R-MUST", "PASS"), result("R-SHOULD", "PASS", "SHOULD"),
             result("R-EXT", "PASS", "EXT", profiles=("ext",))]
    items = [replace(i, status=first) if i.rule_id == rule_id else i for i in items]  # type: ignore[arg-type]
    flaky = next(i for i in items if i.rule_id == rule_id)
    folder = _run_with(tmp_path, items, {2: [replace(flaky, status=rerun)]})  # type: ignore[arg-type]
    built = build_report(folder, folder.parent, catalog=small_catalog)
    core = next(v for v in built.context.verdicts if v.profile == "core")
    assert core.verdict == verdict
    assert any(f"flaky (passed and failed across reruns): {rule_id}" in r for r in core.reasons)
    document = yaml.safe_load(built.report_file.read_text())
    rule = next(r for r in document["rules"] if r["id"] == rule_id)
    assert rule["status"] == "FLAKY" and rule["items"][0]["counts_as"] == ("FAIL" if first == "FAIL" else "ERROR")
    assert [a["status"] for a in rule["items"][0]["attempts"]] == [first, rerun]
    assert document["summary"]["statuses"]["FLAKY"] == 1


def test_report_files_show_the_attempts(tmp_path: Path, small_catalog: Catalog,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    first = _base("FAIL")
    folder = _run_with(tmp_path, first, {2: [replace(first[0], status="PASS", message="ok")]})
    built = build_report(folder, folder.parent, catalog=small_catalog)
    document = yaml.safe_load(built.report_file.read_text())
    assert document["format"] == "nvcf-conformance-report/3"
    assert document["reruns"]["requested"] == 2
    assert document["reruns"]["attempts"][0]["folder"] == "attempt-2"
    # The attempt files are evidence like the first attempt's: listed, and checked by `report verify`.
    assert {"results/reruns.json", "results/attempt-2/results-main.jsonl",
            "results/attempt-2/run-meta.json"} <= set(document["files"])
    assert main(["report", "verify", str(folder.parent)]) == 0
    (folder / "attempt-2" / "results-extra.jsonl").write_text("{}\n")
    assert main(["report", "verify", str(folder.parent)]) == 1
    capsys.readouterr()
    case = ET.fromstring(junit.render(built.context)).find(".//testcase[@name='test_r_must[minimal-http]']")
    assert case is not None
    failure = case.find("failure")
    assert failure is not None and failure.get("message", "").startswith("FLAKY (1 of 2 attempts did not pass)")
    assert "attempt 2: PASS" in (case.findtext("system-out") or "")
    page = html.render(built.context).decode()
    assert 'class="badge s-FLAKY"' in page and "2 attempts (counts as FAIL)" in page
    assert (folder.parent / "repro").is_dir()  # a FLAKY item gets a bundle: it failed at least once


def test_an_unreadable_plan_is_a_warning(tmp_path: Path, small_catalog: Catalog) -> None:
    first = _base("FAIL")
    folder = _run_with(tmp_path, first, {2: [first[0]]})
    (folder / "reruns.json").write_text('{"requested": 2, "attempts": [{"attempt": 2, "folder": "../../etc", '
                                        '"nodeids": []}]}')
    built = build_report(folder, folder.parent, catalog=small_catalog)
    assert any("reruns.json is not what `run` writes" in w for w in built.context.warnings)
    assert next(r for r in built.context.results if r.rule_id == "R-MUST").status == "FAIL"


def test_a_results_file_cannot_claim_attempts(tmp_path: Path) -> None:
    import json

    folder = tmp_path / "results"
    first = _base("FAIL")
    write_results(folder, {"gw0": first}, meta(("ext",)))
    line = json.loads((folder / "results-gw0.jsonl").read_text().splitlines()[0])
    line["attempts"] = [{"attempt": 2, "status": "PASS"}]
    (folder / "results-gw0.jsonl").write_text(json.dumps(line) + "\n")
    assert load_run(folder).results[0].attempts == ()


def test_pytest_item_and_argument(tmp_path: Path) -> None:
    collected = ["suites/test_a.py::test_x[a]", "suites/test_a.py::test_x"]
    assert pytest_item("suites/test_a.py::test_x[a]::names-offender", collected) == "suites/test_a.py::test_x[a]"
    assert pytest_item("suites/test_a.py::test_y", collected) == "suites/test_a.py::test_y"
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "test_a.py").write_text("")
    # Relative to the checkout (pytest's rootdir) or to the suites folder itself: both resolve.
    assert node_argument("suites/test_a.py::test_x[a]", suites) == f"{suites}/test_a.py::test_x[a]"
    assert node_argument("test_a.py::test_x", suites) == f"{suites}/test_a.py::test_x"
