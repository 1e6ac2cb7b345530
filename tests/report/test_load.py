"""Reading the plugin's files: worker merge, de-duplication by nodeid, damage left by an interrupted run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from report_fixtures import exchange, meta, result, write_results

from conformance.errors import ConformanceError
from conformance.report.load import load_run


def test_workers_are_merged_and_transcripts_typed(tmp_path: Path) -> None:
    write_results(tmp_path, {"gw0": [result("A", "PASS", nodeid="t::a", transcript=(exchange(),))],
                             "gw1": [result("B", "FAIL", nodeid="t::b")]}, meta())
    run = load_run(tmp_path)
    assert sorted(r.nodeid for r in run.results) == ["t::a", "t::b"]
    first = next(r for r in run.results if r.nodeid == "t::a")
    assert first.transcript[0].status == 400 and isinstance(first.profiles, tuple)
    assert run.complete


@pytest.mark.parametrize(("first", "second", "kept"), [
    ("PASS", "FAIL", "FAIL"), ("FAIL", "PASS", "FAIL"), ("PASS", "ERROR", "ERROR"), ("SKIP", "PASS", "PASS"),
])
def test_duplicates_keep_the_most_severe(tmp_path: Path, first: str, second: str, kept: str) -> None:
    # A worker restart or a teardown error can record one nodeid twice, in either worker file.
    write_results(tmp_path, {"gw0": [result("A", first, nodeid="t::a")],
                             "gw1": [result("A", second, nodeid="t::a", message="second")]}, meta())
    run = load_run(tmp_path)
    assert [r.status for r in run.results] == [kept]
    assert any("duplicate" in w for w in run.warnings)


def test_truncated_line_marks_the_run_incomplete(tmp_path: Path) -> None:
    write_results(tmp_path, {"main": [result("A", "PASS", nodeid="t::a")]}, meta())
    with (tmp_path / "results-main.jsonl").open("a") as out:
        out.write('{"nodeid": "t::b", "rule_id": "A", "sta')
    run = load_run(tmp_path)
    assert [r.nodeid for r in run.results] == ["t::a"]
    assert not run.complete
    assert any("results-main.jsonl:2" in r for r in run.incomplete_reasons)


def test_unknown_status_and_extra_fields(tmp_path: Path) -> None:
    good = result("A", "PASS", nodeid="t::a").to_dict() | {"added_by_a_newer_plugin": 1}
    bad = result("A", "PASS", nodeid="t::b").to_dict() | {"status": "MAYBE"}
    (tmp_path / "results-main.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    (tmp_path / "run-meta.json").write_text(json.dumps(meta().to_dict() | {"new_field": True}))
    run = load_run(tmp_path)
    assert [r.nodeid for r in run.results] == ["t::a"]
    assert any("MAYBE" in r for r in run.incomplete_reasons)


def test_meta_says_incomplete(tmp_path: Path) -> None:
    write_results(tmp_path, {"main": []}, meta(complete=False))
    assert not load_run(tmp_path).complete


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ConformanceError, match="no such results folder"):
        load_run(tmp_path / "nope")
