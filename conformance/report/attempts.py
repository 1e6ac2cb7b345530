"""Fold the rerun attempts of `run --rerun-failures N` into the run's results: attempts, and FLAKY.

Attempt 1 is the run itself (results/*.jsonl); attempt n ≥ 2 is results/attempt-<n>/, and
results/reruns.json (reruns.py) says which items each attempt reran. Only items that FAILed or ERRORed in
attempt 1 are rerun, so only they get `attempts`. Their status over all attempts:

  - FLAKY when some attempt passed (PASS/XPASS) and some failed or errored: not PASS, whatever the count.
    What it counts as for verdicts is verdict.verdict_status (FAIL if any attempt FAILed, else ERROR).
  - otherwise the most severe of its attempts (FAIL > XFAIL > ERROR > …), as for records of one item
    read twice (load.py): an ERROR in attempt 1 and a FAIL in attempt 2 is a FAIL.

The result that stands for the item (its transcript, cluster objects, repro bundle) is the first attempt
with that status; for FLAKY the first attempt that failed (or errored, when none failed), which is what a
reader has to look at. Everything else of an attempt (its leftovers, its reading problems) joins the
run's warnings: the first attempt's evidence stands, so a rerun never makes a run incomplete here (an
interrupted rerun does, but `run` says so itself).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from conformance.report import reruns
from conformance.report.load import LoadedRun, load_leftovers, load_results, status_severity
from conformance.report.model import FLAKY, Attempt, Leftover, TestResult
from conformance.report.verdict import VERDICT_STATUS

_PASSED = frozenset({"PASS"})
_FAILED = frozenset({"FAIL", "ERROR"})


def combined_status(statuses: Sequence[str]) -> str:
    """The status of an item over its attempts (see the module text)."""
    meanings = {VERDICT_STATUS.get(s, "ERROR") for s in statuses}
    if meanings & _PASSED and meanings & _FAILED:
        return FLAKY
    return max(statuses, key=status_severity)


def _stands_for(status: str, history: Sequence[TestResult]) -> TestResult:
    if status == FLAKY:
        wanted = "FAIL" if any(VERDICT_STATUS.get(r.status) == "FAIL" for r in history) else "ERROR"
        return next(r for r in history if VERDICT_STATUS.get(r.status) == wanted)
    return next(r for r in history if r.status == status)


def _attempt(number: int, result: TestResult) -> Attempt:
    return Attempt(attempt=number, status=result.status, message=result.message, outcome=result.outcome,
                   duration_s=round(float(result.duration_s), 3))


def merge(run: LoadedRun, results_dir: Path) -> tuple[LoadedRun, reruns.Reruns | None]:
    """`run` with every rerun item's attempts and combined status, and the rerun plan (None: no reruns)."""
    try:
        plan = reruns.read(results_dir)
    except reruns.RerunsUnreadable as exc:
        return replace(run, warnings=[*run.warnings, f"{exc}: the reruns are not shown"]), None
    if plan is None:
        return run, None
    warnings = list(run.warnings)
    leftovers: dict[tuple[str, str], Leftover] = {(x.function_id, x.version_id): x for x in run.leftovers}
    found: dict[int, dict[str, TestResult]] = {}
    for attempt in plan.attempts:
        folder = results_dir / attempt.folder
        results, _, lost = load_results(folder) if folder.is_dir() else ([], [], [f"{attempt.folder}/ is missing"])
        found[attempt.attempt] = {r.nodeid: r for r in results}
        warnings += [f"rerun attempt {attempt.attempt}: {problem}" for problem in lost]
        if attempt.problem:
            warnings.append(f"rerun attempt {attempt.attempt}: {attempt.problem}")
        silent = [n for n in attempt.nodeids if n not in found[attempt.attempt]]
        if silent:
            warnings.append(f"rerun attempt {attempt.attempt}: {len(silent)} of {len(attempt.nodeids)} rerun "
                            f"item(s) reported no result ({silent[0]}{', …' if len(silent) > 1 else ''})")
        attempt_leftovers, leftover_warnings = load_leftovers(folder)
        warnings += [f"rerun attempt {attempt.attempt}: {w}" for w in leftover_warnings]
        for leftover in attempt_leftovers:
            leftovers.setdefault((leftover.function_id, leftover.version_id), leftover)
    merged: list[TestResult] = []
    for result in run.results:
        numbered = [(1, result)] + [(a.attempt, found[a.attempt][result.nodeid]) for a in plan.attempts
                                     if result.nodeid in a.nodeids and result.nodeid in found[a.attempt]]
        if len(numbered) == 1:
            merged.append(result)
            continue
        history = [r for _, r in numbered]
        status = combined_status([r.status for r in history])
        merged.append(replace(_stands_for(status, history), status=status,
                              attempts=tuple(_attempt(n, r) for n, r in numbered)))
    return replace(run, results=merged, warnings=warnings, leftovers=list(leftovers.values())), plan
