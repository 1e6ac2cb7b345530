"""Cleanup failures: the item message keeps every function and version id whole, and the report lists each
leftover as a warning (YAML, HTML, console) so someone can delete it by hand."""

from __future__ import annotations

import io
import json
import socket
from pathlib import Path
from typing import Any

import httpcore
import httpx
import pytest
import yaml
from report_fixtures import meta, result, write_leftovers, write_results

import conformance.plugin
from conformance.catalog.load import Catalog
from conformance.client.errors import TargetUnreachable
from conformance.plugin.functions import CleanupError, Created, Functions, Janitor, remove, remove_once
from conformance.plugin.results import ItemRecord, classify
from conformance.report import html, yaml_report
from conformance.report.build import BuiltReport, build_report
from conformance.report.context import build_context
from conformance.report.load import load_run
from conformance.report.model import Leftover
from conformance.run.cli import _print_outcome

# pytester's in-process runs drop modules first imported inside them (see tests/harness/test_plugin.py).
_KEEP_LOADED = (httpcore, httpx, conformance.plugin)

# Real NVCF ids are UUIDs; a long name as the harness makes them (`nvcfc-<run>-<worker><n>-<hex>-<case>`).
IDS = [(f"1b7c5d0e-4f3a-4c2b-9d8e-00000000000{i}", f"9e8d7c6b-5a4f-4e3d-8c2b-11111111111{i}") for i in range(3)]
NAME = "nvcfc-20250101-120000-abcd-w1{}-0f3c-security-privileged-containers-and-host-namespaces"
LONG_PROBLEM = "no answer from https://api.example.test/v2/nvcf/deployments/functions/... " + "detail " * 60


def _leftovers() -> list[Leftover]:
    return [Leftover(fid, vid, NAME.format(i), LONG_PROBLEM) for i, (fid, vid) in enumerate(IDS)]


def _assert_every_id(text: str) -> None:
    for fid, vid in IDS:
        assert fid in text and vid in text, text


class _Unreachable:
    """An NvcfClient whose every request finds no target."""

    def delete_deployment(self, fid: str, vid: str) -> Any:
        raise TargetUnreachable(f"no answer from https://api.example.test/v2/nvcf/deployments/functions/{fid}/"
                                f"versions/{vid} after 0.1 s (ConnectError)")

    def delete_version(self, fid: str, vid: str) -> Any:
        raise AssertionError("not reached")


def test_remove_reports_the_full_ids() -> None:
    fid, vid = IDS[0]
    created = Created(fid, vid, NAME.format(0))
    (leftover,), transient = remove_once(_Unreachable(), created)  # type: ignore[arg-type]
    assert transient  # no answer: trying again later may succeed
    assert (leftover.function_id, leftover.version_id, leftover.name) == (fid, vid, NAME.format(0))
    assert leftover.problem.startswith("no answer from")
    (problem,) = remove(_Unreachable(), created)  # type: ignore[arg-type]
    assert problem.startswith(f"function {fid} version {vid} ({NAME.format(0)}) may be left on the backend: ")


def test_cleanup_hands_leftovers_to_the_janitor_and_raises_with_every_id() -> None:
    seen: list[Leftover] = []
    janitor = Janitor(on_leftover=seen.append)
    factory = Functions(_Unreachable(), "t1", "main", janitor)  # type: ignore[arg-type]
    for i, (fid, vid) in enumerate(IDS):
        factory.created.append(Created(fid, vid, NAME.format(i)))
    for created in factory.created:
        janitor.add(created)
    with pytest.raises(CleanupError) as info:
        factory.cleanup()
    assert [x.function_id for x in info.value.leftovers] == [fid for fid, _ in reversed(IDS)]
    _assert_every_id(str(info.value))
    # A target that did not answer may be back by the session's end: the versions stay with the janitor,
    # whose sweep tries again (here at once, and in vain) and only then hands them on as leftovers.
    assert seen == [] and len(janitor.pending()) == len(IDS)
    janitor.add(Created(*IDS[0], "swept"))
    pauses: list[float] = []
    assert janitor.sweep(_Unreachable(), retry_seconds=0.0, sleep=pauses.append)  # type: ignore[arg-type]
    assert {x.function_id for x in seen} == {fid for fid, _ in IDS} and janitor.pending() == []
    assert pauses == []  # no time was left to retry in


def _teardown(error: BaseException) -> tuple[pytest.TestReport, pytest.CallInfo[None]]:
    def fail() -> None:
        raise error

    call = pytest.CallInfo.from_call(fail, when="teardown")
    report = pytest.TestReport("t::x", ("t", 0, "x"), {}, "failed", None, "teardown")
    return report, call


@pytest.mark.parametrize("before", [None, "FAIL"])
def test_the_item_message_keeps_every_id(before: str | None) -> None:
    record = ItemRecord("FN-CREATE-HELM", None, None)
    if before:
        record.status, record.message = "FAIL", "deployment reached ACTIVE although " + "x" * 400
    classify(record, *_teardown(CleanupError(_leftovers())), "MUST")
    _assert_every_id(record.message)
    assert "\n" not in record.message
    assert record.status == (before or "ERROR")
    if before:
        assert record.message.startswith("deployment reached ACTIVE")
        assert "…; cleanup also failed: function " in record.message
    else:
        assert record.message.startswith("cleanup failed: function ")


def test_the_report_warns_with_every_id(tmp_path: Path, small_catalog: Catalog) -> None:
    folder = write_results(tmp_path / "results", {"gw0": [result("R-MUST", "PASS")]}, meta(complete=True))
    write_leftovers(folder, "gw0", _leftovers())
    write_leftovers(folder, "gw1", _leftovers()[:1])  # the same version twice (test cleanup, then the sweep)
    ctx = build_context(load_run(folder), small_catalog)
    cleanup = [w for w in ctx.warnings if w.startswith("cleanup failed, delete by hand: ")]
    assert len(cleanup) == 3 and ctx.warnings[:3] == cleanup
    for (fid, vid), warning in zip(IDS, cleanup, strict=True):
        assert f"function {fid} version {vid} (" in warning
    document = yaml_report.document(ctx, {})
    assert document["warnings"][:3] == cleanup
    _assert_every_id(html.render(ctx).decode())
    out = io.StringIO()
    _print_outcome(BuiltReport(tmp_path, ctx, ()), out)
    lines = [line for line in out.getvalue().splitlines() if line.startswith("  CLEANUP FAILED")]
    assert len(lines) == 3
    _assert_every_id("\n".join(lines))


def test_an_unreadable_leftover_line_is_a_warning(tmp_path: Path) -> None:
    folder = write_results(tmp_path / "results", {"gw0": []}, meta(complete=True))
    (folder / "leftovers-gw0.jsonl").write_text('{"function_id": "f"\n[]\n')
    run = load_run(folder)
    assert run.leftovers == [] and len([w for w in run.warnings if "unreadable cleanup record" in w]) == 2


SUITE = """
import pytest
from conformance.plugin.functions import Created

IDS = {ids!r}

@pytest.mark.rule("FN-CREATE-HELM")
def test_leaves_versions(functions):
    for i, (fid, vid) in enumerate(IDS[:2]):
        created = Created(fid, vid, {name!r}.format(i))
        functions.created.append(created)
        functions.janitor.add(created)
    assert False, "the implementation did something wrong " + "x" * 500

@pytest.mark.rule("FN-VERSION-DELETE")
def test_interrupted_before_its_cleanup(functions):
    functions.janitor.add(Created(*IDS[2], "left-for-the-sweep"))
"""


def test_the_plugin_records_leftovers_for_the_report(pytester: pytest.Pytester, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = pytester.path / "target.yaml"
    config.write_text("implementation: {name: fake, version: '0'}\n"
                      f"nvcf: {{gateway: '127.0.0.1:{port}', token: tok-report-test-1234, "
                      "api_key: key-report-test-5678}\n"
                      "timeouts: {cleanup_retry: 0.1}\n")  # nothing will come back: no need to wait for it
    results = pytester.path / "results"
    pytester.makepyfile(test_suite=SUITE.format(ids=IDS, name=NAME))
    ran = pytester.runpytest("-p", "conformance.plugin", "--target-config", str(config), "--results-dir",
                             str(results), "--run-id", "t1", "-p", "no:cacheprovider", "-o", "addopts=")
    ran.assert_outcomes(passed=1, failed=1, errors=1)  # the error: the failed cleanup at teardown
    lines = {json.loads(line)["nodeid"]: json.loads(line) for line in (results / "results-main.jsonl").open()}
    failed = lines["test_suite.py::test_leaves_versions"]
    assert failed["status"] == "FAIL" and "cleanup also failed" in failed["message"]
    for fid, vid in IDS[:2]:
        assert fid in failed["message"] and vid in failed["message"]
    recorded = [json.loads(line) for line in (results / "leftovers-main.jsonl").open()]
    assert sorted(r["function_id"] for r in recorded) == sorted(fid for fid, _ in IDS)
    built = build_report(results, tmp_path / "report")
    warnings = yaml.safe_load(built.report_file.read_text())["warnings"]
    _assert_every_id("\n".join(warnings))


class _Restarting(_Unreachable):
    """A target that is away for two calls (a restart), then answers."""

    def __init__(self) -> None:
        self.calls = 0

    def delete_deployment(self, fid: str, vid: str) -> Any:
        self.calls += 1
        if self.calls <= 2:
            return super().delete_deployment(fid, vid)
        return type("Reply", (), {"ok": False, "status_code": 404})()

    def delete_version(self, fid: str, vid: str) -> Any:
        return type("Reply", (), {"ok": True, "status_code": 204})()


def test_the_sweep_outlasts_a_restarting_target_and_leaves_nothing() -> None:
    seen: list[Leftover] = []
    janitor = Janitor(on_leftover=seen.append)
    janitor.add(Created(*IDS[0], "blip"))
    pauses: list[float] = []
    assert janitor.sweep(_Restarting(), retry_seconds=60.0, sleep=pauses.append) == []  # type: ignore[arg-type]
    assert seen == [] and janitor.pending() == [] and len(pauses) == 2
