"""The chart side's second proof: every refused case's fixed twin deploys on the unmutated reference.

A refused case alone cannot tell "refused for the documented reason" from "refused for anything". Its
twin (the `twin:` section of the overlay: the same chart with only the offence removed) must deploy,
reach ACTIVE and answer one inference on a conformant NVCF; `verify.twin_problems` is the static half
(the twin breaks no restriction), this module the dynamic half. A twin that fails here means either
the twin is wrong or the reference refuses more than the rules say, and a suite that refuses
everything would go unnoticed against it: the mutation run exits 1.

Deployment goes through the harness's own client and `Functions` (create, deploy, settle, cleanup),
so a twin is judged by the same code as a conformance test.
"""

from __future__ import annotations

import secrets
import shutil
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from conformance.charts.cases import Case, load_cases
from conformance.client.http import NvcfClient
from conformance.errors import ConformanceError
from conformance.mutation.environment import SharedEnv
from conformance.mutation.runner import clean_environ
from conformance.mutation.server import MutantServer
from conformance.plugin.charts import ChartRef, provision
from conformance.plugin.functions import CleanupError, Functions, Janitor
from conformance.plugin.outcomes import check_answers
from conformance.target.config import TargetConfig, load_target

PASS = "PASS"
FAIL = "FAIL"
# Twins spend their time waiting on the reference, not computing: a few at once hide the polling
# without crowding a 2-core machine. Capped by the GPU slots of the shape they deploy on.
TWIN_WORKERS = 4


@dataclass(frozen=True)
class TwinResult:
    case: str  # the refused case
    twin: str  # its twin's case id
    status: str  # PASS | FAIL
    reason: str  # for a FAIL why; for a PASS what was seen
    seconds: float


@dataclass(frozen=True)
class TwinsRun:
    results: tuple[TwinResult, ...]
    missing: tuple[str, ...]  # refused cases whose overlay has no `twin:` section
    seconds: float

    @property
    def passed(self) -> tuple[TwinResult, ...]:
        return tuple(r for r in self.results if r.status == PASS)

    @property
    def failed(self) -> tuple[TwinResult, ...]:
        return tuple(r for r in self.results if r.status != PASS)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.missing


def twin_cases(only: Collection[str] = ()) -> tuple[list[Case], tuple[str, ...]]:
    """(the twins, refused cases without one); `only` narrows to these case or twin ids."""
    cases = load_cases(twins=True)
    twins = [c for c in cases if c.twin_of and (not only or c.id in only or c.twin_of in only)]
    missing = tuple(c.id for c in cases if c.violates and c.twin_id is None and (not only or c.id in only))
    return twins, missing


def check_twin(functions: Functions, chart: ChartRef) -> str:
    """Deploy to ACTIVE and get the mini-service's echo back; raises (a FAIL) otherwise."""
    deployed = functions.deployed(chart)
    return f"ACTIVE after {' → '.join(deployed.watch.history)}; {check_answers(deployed)}"


def _run_one(client: NvcfClient, chart: ChartRef, twin: Case, run_id: str, janitor: Janitor) -> TwinResult:
    started = time.monotonic()
    functions = Functions(client.for_test(), run_id, "twins", janitor)
    status, reason = FAIL, "not run"
    try:
        reason = check_twin(functions, chart)
        status = PASS
    except (AssertionError, ConformanceError) as exc:  # Nonconformant is an AssertionError
        reason = str(exc) or type(exc).__name__
    finally:
        try:
            functions.cleanup()
        except CleanupError as exc:
            # Undeploy and delete are part of what a conformant chart must allow.
            reason = f"{reason}; then cleanup failed: {exc}" if status == FAIL else f"cleanup failed: {exc}"
            status = FAIL
    return TwinResult(str(twin.twin_of), twin.id, status, reason, time.monotonic() - started)


def _roomiest_gpu(target: TargetConfig) -> tuple[str | None, int]:
    """The GPU with the most single-GPU slots across its nodes, and that number (twins deploy 1x each)."""
    shapes = sorted(target.gpu_shapes, key=lambda s: -(s.gpus_per_node * s.nodes))
    if not shapes:
        return None, 1
    return shapes[0].gpu, shapes[0].gpus_per_node * shapes[0].nodes


def run_twins(
    env: SharedEnv,
    work: Path,
    *,
    progress: Callable[[str], None] = lambda _: None,
    only: Sequence[str] = (),
    workers: int = TWIN_WORKERS,
) -> TwinsRun:
    """Deploy every twin on a plain reference server of the shared environment. Never raises: a phase
    that cannot run (server, build, push) is a FAIL of every twin, with the reason."""
    started = time.monotonic()
    twins, missing = twin_cases(only)
    if not twins:
        return TwinsRun((), missing, 0.0)
    # A fresh folder: what an earlier run pushed went to its own environment's registry.
    shutil.rmtree(work, ignore_errors=True)
    server = MutantServer(work / "server", env, ())
    try:
        server.start()
        path = server.write_target(work / "target.yaml")
        target = load_target(path, environ=clean_environ())
        gpu, slots = _roomiest_gpu(target)
        if gpu is not None:
            target = load_target(path, environ=clean_environ(), overrides={"deployment": {"gpu": gpu}})
        run_id = f"twins-{secrets.token_hex(2)}"
        progress(f"twins: building and pushing {len(twins)} twin chart(s) (run {run_id})")
        charts = provision(target, run_id, [t.id for t in twins], work / "results")
        progress(f"twins: deploying {len(twins)} twin(s) on the unmutated reference, {min(workers, slots)} at a time")
        janitor = Janitor()
        with NvcfClient(target) as client, ThreadPoolExecutor(max_workers=max(1, min(workers, slots))) as pool:
            try:
                results = list(pool.map(lambda t: _run_one(client, charts[t.id], t, run_id, janitor), twins))
            finally:
                leftovers = janitor.sweep(client)
        if leftovers:
            progress(f"twins: cleanup left problems: {'; '.join(leftovers)[:300]}")
    except (ConformanceError, OSError) as exc:
        reason = f"not run: {exc}"
        results = [TwinResult(str(t.twin_of), t.id, FAIL, reason, 0.0) for t in twins]
    finally:
        server.stop()
    return TwinsRun(tuple(sorted(results, key=lambda r: r.twin)), missing, time.monotonic() - started)
