"""`run --rerun-failures N`: rerun every FAIL/ERROR item of the run, just those items, up to N more times.

Each attempt is a pytest run of its own, started like the first (same run id, target, profiles, selection,
workers and pytest options) with only the items to rerun as arguments, writing into a results folder of its
own, results/attempt-<n>/, so no attempt merges into or reads another's results, collected items or
leftovers. What an attempt does share with the run, on purpose:
  - the run id: the run's charts live in a repository named after it and the cluster inspector finds a
    case's objects by it (function names stay unique: they carry a counter and a random part);
  - the run's charts (charts.json, copied in): the same chart bytes, and no second build and push;
  - the gRPC spelling the run detected (grpc-inference-url.json): a fact about the target, not an attempt.
An item is rerun until an attempt passes it (then it is FLAKY, whatever later attempts would say) or N
reruns are used up. results/reruns.json (conformance/report/reruns.py) records what each attempt reran,
written after every attempt; the report folds the attempts in (conformance/report/attempts.py).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from conformance.report import reruns
from conformance.report.load import load_collected, load_results
from conformance.run.pytest_runner import PytestRun, run_pytest

RERUN_STATUSES = frozenset({"FAIL", "ERROR"})
_PASSED = frozenset({"PASS", "XPASS"})

# Builds the pytest command of one attempt: (its results folder, the pytest node arguments) → argv.
CommandFor = Callable[[Path, list[str]], list[str]]


def pytest_item(nodeid: str, collected: Iterable[str]) -> str:
    """The pytest item behind a result nodeid: itself, or the collected item it was derived from.

    The plugin records some results under a nodeid of its own below the item's (a refusal's
    REFUSAL-NAMES-OFFENDER verdict is `<item>::names-offender`); rerunning the item reproduces them.
    """
    parents = [n for n in collected if nodeid == n or nodeid.startswith(n + "::")]
    return max(parents, key=len) if parents else nodeid


def node_argument(nodeid: str, suites: Path) -> str:
    """A nodeid as a pytest argument: nodeids are relative to pytest's rootdir, which is the suites
    folder or one of its parents (the checkout, whose pyproject.toml configures pytest)."""
    path, sep, rest = nodeid.partition("::")
    for base in (suites, *suites.parents):
        candidate = base / path
        if candidate.is_file():
            return f"{candidate}{sep}{rest}"
    return nodeid


def _fresh_folder(results_dir: Path, number: int, shared: Sequence[str]) -> Path:
    folder = results_dir / reruns.attempt_folder(number)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name in shared:
        source = results_dir / name
        if source.is_file():
            shutil.copyfile(source, folder / name)
    return folder


def _history(results_dir: Path) -> dict[str, list[str]]:
    results, _, _ = load_results(results_dir)
    return {r.nodeid: [r.status] for r in results if r.status in RERUN_STATUSES}


def rerun_failures(times: int, results_dir: Path, suites: Path, command_for: CommandFor, *,
                   shared: Sequence[str] = (), run: Callable[[list[str]], PytestRun] = run_pytest) -> reruns.Reruns:
    """Rerun the FAIL/ERROR items of the run in `results_dir` up to `times` times; the plan as written."""
    history = _history(results_dir)
    collected = [n for nodeids in load_collected(results_dir)[0].values() for n in nodeids]
    plan = reruns.Reruns(times)
    for number in range(2, times + 2):
        pending = [n for n, seen in history.items() if not _PASSED & set(seen)]
        if not pending:
            break
        folder = _fresh_folder(results_dir, number, shared)
        arguments = list(dict.fromkeys(node_argument(pytest_item(n, collected), suites) for n in pending))
        print(f"nvcf-conformance: rerun {number - 1} of {times}: {len(pending)} failed item(s)", file=sys.stderr,
              flush=True)
        outcome = run(command_for(folder, arguments))
        found = {r.nodeid: r.status for r in load_results(folder)[0]}
        for nodeid in pending:
            if nodeid in found:
                history[nodeid].append(found[nodeid])
        attempt = reruns.RerunAttempt(number, folder.name, tuple(pending), outcome.problem(), outcome.interrupted)
        plan = reruns.Reruns(times, (*plan.attempts, attempt))
        reruns.write(results_dir, plan)  # after every attempt: an interrupted run still says what it did
        if outcome.interrupted:
            break
    if not plan.attempts:
        reruns.write(results_dir, plan)  # nothing failed: the report still says reruns were asked for
    return plan

