"""Read what the pytest plugin wrote: the per-worker result files and the run meta.

The plugin writes `results-<worker>.jsonl` (one `TestResult` per line, one file per xdist worker) and
`run-meta.json`. Reading is lenient about damage an interrupted run leaves behind (a truncated last line,
a missing meta file) but never silent: each problem becomes a warning, and lost data marks the run
incomplete, because a lost line could be the one FAIL that decides the verdict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from conformance.errors import ConformanceError
from conformance.report.model import STATUSES, Exchange, RunMeta, TestResult

META_FILE = "run-meta.json"
RESULTS_GLOB = "results-*.jsonl"

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


def _severity(result: TestResult) -> int:
    return _SEVERITY.get(result.status, 0)


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


def load_run(results_dir: str | Path, fallback_meta: RunMeta | None = None) -> LoadedRun:
    """Everything the report writers need from one results folder."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise ConformanceError(f"{results_dir}: no such results folder")
    meta, meta_problems = load_meta(results_dir, fallback_meta)
    results, warnings, lost = load_results(results_dir)
    incomplete = [*meta_problems, *lost]
    if not meta.complete and not meta_problems:
        incomplete.insert(0, "the run did not finish normally (run-meta.json says complete: false)")
    return LoadedRun(meta=meta, results=results, warnings=warnings, incomplete_reasons=incomplete)
