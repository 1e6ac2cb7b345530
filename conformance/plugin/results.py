"""Turn pytest's phase reports into one `TestResult` per test item, and keep `run-meta.json` current.

Status mapping (DESIGN.md): an assertion in the test body is a FAIL of the implementation; anything
else (fixture failure, unreachable target, harness timeout, a broken cleanup) is an ERROR; a rule whose
profiles the run does not claim is a SKIP; a MUST rule in scope never skips — its skip becomes ERROR.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conformance import __version__
from conformance.client.errors import Nonconformant
from conformance.client.transcript import Transcript
from conformance.report.model import COLLECTED_FILE, LEFTOVERS_FILE, Leftover, RunMeta, Status, TestResult

from .context import RunContext
from .functions import CleanupError


@dataclass(frozen=True)
class RefusalText:
    """What a conformant refusal said, for REFUSAL-NAMES-OFFENDER: the text, the words that would name
    the offence, and the one it named (None: it named none)."""

    text: str
    offenders: tuple[str, ...]
    named: str | None


@dataclass
class ItemRecord:
    """What one test item accumulates while it runs; the plugin writes it out after teardown."""

    rule_id: str
    case: str | None
    param: str | None
    transcript: Transcript = field(default_factory=Transcript)
    outcome: str | None = None  # what the test observed, in the catalog's vocabulary
    note: str = ""  # a one-line observation for a PASS
    cluster_objects: list[dict[str, Any]] = field(default_factory=list)
    gated: str | None = None  # reason, when the profile gate skipped the item
    status: Status | None = None
    message: str = ""
    # Seconds spent in this item's setup, call and teardown (pytest's own per-phase durations: a
    # clock started at collection would also count every item that ran before it on the worker).
    seconds: float = 0.0

    # Facts of the run the verdict depends on (which gRPC spelling was used, ...), shown with any status.
    facts: list[str] = field(default_factory=list)
    refusal: RefusalText | None = None  # set when the item accepted a refusal

    def observe(self, outcome: str, note: str = "") -> None:
        self.outcome = outcome
        if note:
            self.note = note

    def note_fact(self, fact: str) -> None:
        if fact not in self.facts:
            self.facts.append(fact)


ITEM_KEY = pytest.StashKey[ItemRecord]()


def one_line(text: str, limit: int = 400) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _exception_line(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    value = excinfo.value
    text = str(value).split("\nassert ")[0] if isinstance(value, AssertionError) else str(value)
    name = type(value).__name__
    return one_line(text if isinstance(value, Nonconformant | pytest.fail.Exception) else f"{name}: {text}")


def _with_leftovers(before: str, error: CleanupError, limit: int = 400) -> str:
    # The ids are what someone needs to delete the leftovers by hand: shorten the rest, never them.
    ids = "; ".join(f"function {x.function_id} version {x.version_id} not removed ({one_line(x.problem, 80)})"
                    for x in error.leftovers)
    if not before:
        return f"cleanup failed: {ids}"
    return f"{one_line(before, max(limit - len(ids), 120))}; cleanup also failed: {ids}"


def is_fail(excinfo: pytest.ExceptionInfo[BaseException]) -> bool:
    """An assertion (or pytest.fail) in the test body is the implementation's failure."""
    return isinstance(excinfo.value, AssertionError | pytest.fail.Exception)


def classify(record: ItemRecord, report: pytest.TestReport, call: pytest.CallInfo[None], level: str) -> None:
    """Fold one phase report into the record; may rewrite a MUST skip into a failed report."""
    if record.status in ("FAIL", "ERROR"):
        if report.when == "teardown" and report.failed and call.excinfo is not None:
            if isinstance(call.excinfo.value, CleanupError):
                record.message = _with_leftovers(record.message, call.excinfo.value)
            else:
                record.message = one_line(f"{record.message}; cleanup also failed: {_exception_line(call.excinfo)}")
        return
    if hasattr(report, "wasxfail"):
        record.status = "XFAIL" if report.skipped else "XPASS"
        record.message = one_line(str(report.wasxfail))
        return
    if report.skipped:
        reason = _skip_reason(report)
        if record.gated is None and level == "MUST":
            # A MUST rule in scope has no optional precondition: not being able to check it is an ERROR.
            report.outcome = "failed"
            record.status = "ERROR"
            record.message = one_line(f"MUST rule {record.rule_id} cannot be skipped: {reason}")
            report.longrepr = record.message
        else:
            record.status = "SKIP"
            record.message = one_line(record.gated or reason)
        return
    if report.failed and call.excinfo is not None:
        if report.when == "call" and is_fail(call.excinfo):
            record.status = "FAIL"
            value = call.excinfo.value
            if isinstance(value, Nonconformant) and value.outcome and record.outcome is None:
                record.outcome = value.outcome
        else:
            record.status = "ERROR"
        where = {"setup": "setup: ", "teardown": "cleanup: "}.get(report.when, "")
        if isinstance(call.excinfo.value, CleanupError):
            record.message = _with_leftovers("", call.excinfo.value)
        else:
            record.message = one_line(where + _exception_line(call.excinfo))
        return
    if report.failed:
        record.status = "ERROR"
        record.message = one_line(str(report.longrepr))


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def finish(record: ItemRecord, item: pytest.Item, ctx: RunContext, manifest: dict[str, dict[str, Any]]) -> TestResult:
    rule = ctx.catalog[record.rule_id]
    status: Status = record.status or "PASS"
    message = record.message if status != "PASS" else one_line(record.note or record.outcome or "")
    if record.facts:
        message = one_line("; ".join([message, *record.facts]) if message else "; ".join(record.facts))
    chart = manifest.get(record.case or "", {})
    return TestResult(
        nodeid=item.nodeid,
        rule_id=rule.id,
        level=rule.level,
        profiles=tuple(rule.profiles),
        status=status,
        case=record.case,
        param=record.param,
        message=message,
        outcome=record.outcome,
        duration_s=round(record.seconds, 3),
        transcript=record.transcript.exchanges,
        cluster_objects=tuple(record.cluster_objects),
        chart_package=chart.get("package"),
        chart_digest=chart.get("digest"),
        rerun=ctx.rerun_command(rule.id, record.case),
    )


NAMING_RULE = "REFUSAL-NAMES-OFFENDER"


def naming_result(record: ItemRecord, parent: TestResult, ctx: RunContext) -> TestResult | None:
    """The REFUSAL-NAMES-OFFENDER result an item's conformant refusal yields: PASS when its text named
    the offence, FAIL when it did not (the refusal itself stays conformant), quoting the text either way."""
    refusal = record.refusal
    rule = ctx.catalog.get(NAMING_RULE)
    if refusal is None or rule is None:
        return None
    where = f"{parent.rule_id}" + (f"[{parent.param}]" if parent.param is not None else "")
    if refusal.named is not None:
        status: Status = "PASS"
        message = f"{where}: names {refusal.named!r}: {refusal.text}"
    else:
        status = "FAIL"
        words = ", ".join(repr(o) for o in refusal.offenders)
        message = f"{where}: the refusal names none of {words}: {refusal.text or '(no reason given)'}"
    return replace(
        parent, nodeid=f"{parent.nodeid}::names-offender", rule_id=rule.id, level=rule.level,
        profiles=tuple(rule.profiles), status=status, message=one_line(message),
        outcome="refusal-names-offender" if refusal.named is not None else "refused-not-naming-offender",
        duration_s=0.0, transcript=(), cluster_objects=(),  # the refusing item's own result carries those
        rerun=ctx.rerun_command(parent.rule_id, record.case),
    )


def write_result(ctx: RunContext, result: TestResult) -> None:
    ctx.results_dir.mkdir(parents=True, exist_ok=True)
    line = json.dumps(result.to_dict(), default=str, ensure_ascii=False)
    # One write per line in append mode: a crash leaves whole lines, and workers never share a file.
    with ctx.results_file.open("a", encoding="utf-8") as out:
        out.write(line + "\n")


def write_collected(ctx: RunContext, rule_of: dict[str, str]) -> None:
    """The items this process is to run, per rule: without it an interrupted rule would look passed."""
    by_rule: dict[str, list[str]] = {}
    for nodeid, rule_id in rule_of.items():
        by_rule.setdefault(rule_id, []).append(nodeid)
    path = ctx.results_dir / COLLECTED_FILE.format(worker=ctx.worker)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps({"rules": by_rule}, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


def write_leftover(ctx: RunContext, leftover: Leftover) -> None:
    """Record what cleanup could not remove; the session-end sweep has no test result to carry it."""
    # Best effort: the failing cleanup itself is already an ERROR result and a stderr line.
    with contextlib.suppress(OSError):
        ctx.results_dir.mkdir(parents=True, exist_ok=True)
        with (ctx.results_dir / LEFTOVERS_FILE.format(worker=ctx.worker)).open("a", encoding="utf-8") as out:
            out.write(json.dumps(leftover.to_dict(), ensure_ascii=False) + "\n")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_meta(path: Path, meta: RunMeta) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(meta.to_dict(), indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)


def start_meta(ctx: RunContext, command: str) -> RunMeta:
    # Another run's collected items or leftovers in a reused folder would be read as this run's. The
    # controller starts before any xdist worker exists, so nothing of this run is deleted here.
    for worker_file in (COLLECTED_FILE, LEFTOVERS_FILE):
        for stale in ctx.results_dir.glob(worker_file.format(worker="*")):
            stale.unlink(missing_ok=True)
    meta = RunMeta(
        run_id=ctx.run_id,
        harness_version=__version__,
        implementation=ctx.target.implementation,
        implementation_version=ctx.target.implementation_version,
        profiles=tuple(sorted(ctx.claimed)),
        target=ctx.target.redacted(),
        started_at=_now(),
        complete=False,
        command=command,
        selection=ctx.selection.to_json(),
        settings=list(ctx.settings),
    )
    write_meta(ctx.meta_file, meta)
    return meta


def finish_meta(ctx: RunContext, meta: RunMeta, complete: bool, charts: dict[str, dict[str, Any]]) -> None:
    summary = {
        case: {k: entry.get(k) for k in ("chart", "version", "digest", "helmChart")} for case, entry in charts.items()
    }
    write_meta(ctx.meta_file, replace(meta, finished_at=_now(), complete=complete, charts=summary))
