"""Read what the pytest plugin wrote: the per-worker result files and the run meta.

The plugin writes `results-<worker>.jsonl` (one `TestResult` per line, one file per xdist worker),
`run-meta.json`, `collected-<worker>.json` (the items each process was to run, per rule) and
`leftovers-<worker>.jsonl` (what cleanup could not remove). Reading is lenient about damage an
interrupted run leaves behind (a truncated last line, a missing meta file) but never silent: each
problem becomes a warning, and lost data marks the run incomplete, because a lost line could be the
one FAIL that decides the verdict. So does a collected item that never reported: the run stopped
(Ctrl-C, -x, a crashed worker) before it.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from conformance.errors import ConformanceError
from conformance.report.model import (
    COLLECTED_FILE,
    GRPC_FACT_FILE,
    LEFTOVERS_FILE,
    STATUSES,
    Exchange,
    Leftover,
    RunMeta,
    TestResult,
)

META_FILE = "run-meta.json"
RESULTS_GLOB = "results-*.jsonl"
COLLECTED_GLOB = COLLECTED_FILE.format(worker="*")
LEFTOVERS_GLOB = LEFTOVERS_FILE.format(worker="*")

# Which record of a nodeid wins when it appears more than once (xdist worker restarts, reruns, a
# teardown error recorded after the call passed): the most severe, so a FAIL can never be hidden by a
# later PASS. Equal severity: the one read last (files in name order, lines in order).
_SEVERITY = {"FAIL": 5, "XFAIL": 4, "ERROR": 3, "XPASS": 2, "PASS": 1, "SKIP": 0}


@dataclass
class LoadedRun:
    meta: RunMeta
    results: list[TestResult]
    warnings: list[str] = field(default_factory=list)
    incomplete_reasons: list[str] = field(default_factory=list)
    collected: dict[str, tuple[str, ...]] = field(default_factory=dict)  # rule id → nodeids meant to run
    leftovers: list[Leftover] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)  # what the run found out about the target

    @property
    def complete(self) -> bool:
        return self.meta.complete and not self.incomplete_reasons


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    # Ignore fields a newer plugin may add; the model is the contract, extras are not ours to judge.
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def exchange_from_dict(data: dict[str, Any]) -> Exchange:
    return Exchange(**_known(Exchange, data))


def result_from_dict(data: dict[str, Any]) -> TestResult:
    data = _known(TestResult, data)
    # A results file holds one attempt; the report assembles `attempts` from the attempt folders
    # (attempts.py), so a file cannot claim a history (or a FLAKY) of its own.
    data.pop("attempts", None)
    if data.get("status") not in STATUSES:
        raise ValueError(f"unknown status {data.get('status')!r}")
    for required in ("nodeid", "rule_id", "level"):
        if not isinstance(data.get(required), str):
            raise ValueError(f"field '{required}' is missing or not a string")
    data["profiles"] = tuple(data.get("profiles") or ())
    data["transcript"] = tuple(
        exchange_from_dict(x) if isinstance(x, dict) else x for x in data.get("transcript") or ()
    )
    data["cluster_objects"] = tuple(data.get("cluster_objects") or ())
    return TestResult(**data)


def meta_from_dict(data: dict[str, Any]) -> RunMeta:
    data = _known(RunMeta, data)
    data["profiles"] = tuple(data.get("profiles") or ())
    data.setdefault("target", {})
    missing = [n for n in ("run_id", "harness_version", "implementation", "implementation_version", "started_at")
               if n not in data]
    if missing:
        raise ValueError(f"missing field(s) {', '.join(missing)}")
    return RunMeta(**data)


def _placeholder_meta(results_dir: Path) -> RunMeta:
    return RunMeta(
        run_id=results_dir.resolve().parent.name if results_dir.name == "results" else results_dir.resolve().name,
        harness_version="unknown",
        implementation="unknown",
        implementation_version="unknown",
        profiles=(),
        target={},
        started_at="unknown",
        complete=False,
    )


def load_meta(results_dir: Path, fallback: RunMeta | None = None) -> tuple[RunMeta, list[str]]:
    """The run meta and the reasons it cannot be trusted as complete (empty when all is well).

    Without a readable meta file, `fallback` (what the caller knows: run id, profiles) stands in, marked
    incomplete.
    """
    path = results_dir / META_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return meta_from_dict(data), []
    except FileNotFoundError:
        problem = f"{META_FILE} is missing: the run did not start or was killed"
    except (OSError, ValueError, TypeError) as exc:
        problem = f"{META_FILE} is unreadable ({exc})"
    stand_in = replace(fallback, complete=False) if fallback is not None else _placeholder_meta(results_dir)
    return stand_in, [problem]


def status_severity(status: str) -> int:
    """How severe a plugin status is (see _SEVERITY): the higher, the more it must not be hidden."""
    return _SEVERITY.get(status, 0)


def _severity(result: TestResult) -> int:
    return status_severity(result.status)


def dedupe(results: list[TestResult]) -> tuple[list[TestResult], int]:
    """One result per nodeid (the most severe; see _SEVERITY), in first-seen order, and how many were dropped."""
    chosen: dict[str, TestResult] = {}
    for result in results:
        current = chosen.get(result.nodeid)
        if current is None or _severity(result) >= _severity(current):
            chosen[result.nodeid] = result
    return list(chosen.values()), len(results) - len(chosen)


def load_results(results_dir: Path) -> tuple[list[TestResult], list[str], list[str]]:
    """All results of all workers, de-duplicated; plus warnings and reasons data was lost."""
    warnings: list[str] = []
    lost: list[str] = []
    results: list[TestResult] = []
    for path in sorted(results_dir.glob(RESULTS_GLOB)):
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as exc:
            lost.append(f"{path.name} is unreadable ({exc.strerror or exc})")
            continue
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if not isinstance(data, dict):
                    raise ValueError("not a JSON object")
                results.append(result_from_dict(data))
            except (ValueError, TypeError) as exc:
                lost.append(f"{path.name}:{number}: unreadable result ({exc})")
    results, dropped = dedupe(results)
    if dropped:
        warnings.append(f"{dropped} duplicate result record(s) merged (the most severe status per test was kept)")
    return results, warnings, lost


def load_collected(results_dir: Path) -> tuple[dict[str, tuple[str, ...]], list[str]]:
    """Rule id → the nodeids collected for it, over every process; plus warnings. Empty when not recorded."""
    collected: dict[str, dict[str, None]] = {}
    warnings: list[str] = []
    for path in sorted(results_dir.glob(COLLECTED_GLOB)):
        try:
            rules = json.loads(path.read_text(encoding="utf-8"))["rules"]
            for rule_id, nodeids in rules.items():
                collected.setdefault(str(rule_id), {}).update(dict.fromkeys(map(str, nodeids)))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            # Without it unrun items cannot be told apart; the run meta still says whether it finished.
            warnings.append(f"{path.name} is unreadable ({exc}): unrun items cannot be listed")
    return {rule_id: tuple(nodeids) for rule_id, nodeids in collected.items()}, warnings


def load_leftovers(results_dir: Path) -> tuple[list[Leftover], list[str]]:
    """What cleanup could not remove, once per function version; plus warnings about unreadable lines."""
    found: dict[tuple[str, str], Leftover] = {}
    warnings: list[str] = []
    for path in sorted(results_dir.glob(LEFTOVERS_GLOB)):
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as exc:
            warnings.append(f"{path.name} is unreadable ({exc.strerror or exc}): cleanup failures may be missing")
            continue
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                leftover = Leftover(**_known(Leftover, json.loads(line)))
            except (ValueError, TypeError, AttributeError) as exc:
                warnings.append(f"{path.name}:{number}: unreadable cleanup record ({exc})")
                continue
            found.setdefault((leftover.function_id, leftover.version_id), leftover)
    return list(found.values()), warnings


def unreported(collected: dict[str, tuple[str, ...]], results: list[TestResult]) -> list[str]:
    """Collected nodeids that have no result."""
    reported = {r.nodeid for r in results}
    return [n for nodeids in collected.values() for n in nodeids if n not in reported]


def load_run(results_dir: str | Path, fallback_meta: RunMeta | None = None) -> LoadedRun:
    """Everything the report writers need from one results folder."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise ConformanceError(f"{results_dir}: no such results folder")
    meta, meta_problems = load_meta(results_dir, fallback_meta)
    results, warnings, lost = load_results(results_dir)
    collected, collected_warnings = load_collected(results_dir)
    leftovers, leftover_warnings = load_leftovers(results_dir)
    incomplete = [*meta_problems, *lost]
    if not meta.complete and not meta_problems:
        incomplete.insert(0, "the run did not finish normally (run-meta.json says complete: false)")
    missing = unreported(collected, results)
    if missing:
        total = sum(len(nodeids) for nodeids in collected.values())
        incomplete.append(f"{len(missing)} of {total} collected test item(s) did not report a result")
    return LoadedRun(meta=meta, results=results, warnings=[*warnings, *collected_warnings, *leftover_warnings],
                     incomplete_reasons=incomplete, collected=collected, leftovers=leftovers,
                     facts=load_facts(results_dir))


def load_facts(results_dir: Path) -> dict[str, Any]:
    """Facts the plugin established once for the run (the gRPC spelling the backend honours)."""
    facts: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        grpc = json.loads((results_dir / GRPC_FACT_FILE).read_text(encoding="utf-8"))
        if isinstance(grpc, dict):
            facts["grpc_inference_url"] = {"value": str(grpc.get("inferenceUrl")), "how": str(grpc.get("how"))}
    return facts
