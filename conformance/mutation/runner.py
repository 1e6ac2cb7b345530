"""Run one mutant: start its server, run its rule (and the smoke rules) at it, judge, stop it."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from conformance.env.reference_server import PASSWORD_ENV
from conformance.errors import ConformanceError
from conformance.mutation.environment import SharedEnv
from conformance.mutation.mutants import Mutant
from conformance.mutation.server import MutantServer
from conformance.mutation.verdict import INVALID, Verdict, judge, smoke_failures
from conformance.paths import ROOT
from conformance.report.load import load_results
from conformance.report.model import TestResult
from conformance.target.config import KEYS

# A mutant run that takes longer than this is stuck (the harness's own timeouts are shorter).
RUN_TIMEOUT = 2400.0
ENV_GONE = "the shared environment is gone (stopped by someone else?); rerun with --own-env"


@dataclass(frozen=True)
class Outcome:
    mutant: Mutant
    verdict: Verdict
    seconds: float
    smoke: dict[str, str] = field(default_factory=dict)  # smoke rule → problem; empty when all passed
    smoke_rules: tuple[str, ...] = ()
    report_dir: str = ""


def clean_environ(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without target settings: the generated target file must be the only source."""
    target_vars = {k.env for k in KEYS.values() if k.env}
    env = {k: v for k, v in os.environ.items() if k not in target_vars and k != PASSWORD_ENV}
    env.update(extra or {})
    return env


def slug(rule: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", rule.lower()).strip("-")


def run_command(rules: Sequence[str], profiles: Sequence[str], target: Path, report_dir: Path, run_id: str,
                manifest: Path | None, workers: int | None = None) -> list[str]:
    # No preflight: the shared environment is checked once by the baseline, and a mutant must be judged by
    # its rule's tests, not stopped by a set-up check that happens to touch what it breaks.
    cmd = [sys.executable, "-m", "conformance.cli", "run", "--target-config", str(target), "--run-id", run_id,
           "--report-dir", str(report_dir), "--no-preflight"]
    for rule in rules:
        cmd += ["--rule", rule]
    for profile in profiles:
        cmd += ["--profile", profile]
    if manifest is not None:
        cmd += ["--charts-manifest", str(manifest)]
    if workers is not None:
        cmd += ["-n", str(workers)]
    return cmd


def profiles_for(mutant: Mutant) -> list[str]:
    return [p for p in mutant.profiles if p != "core"]


@dataclass(frozen=True)
class SuiteRun:
    """The results of one harness run at one reference server."""

    results: list[TestResult]
    returncode: int
    log: Path


def run_suites(home: Path, env: SharedEnv, violate: Sequence[str], args: Sequence[str], rules: Sequence[str],
               profiles: Sequence[str], run_id: str, *, workers: int | None = None) -> SuiteRun:
    """Start a reference server (`violate` empty: the unmutated one), run `rules` at it, stop it.

    Raises ConformanceError/OSError when the server does not start, TimeoutExpired when the run hangs.
    """
    # A fresh folder: a report or run folder left by an earlier mutation run must not leak into this one.
    shutil.rmtree(home, ignore_errors=True)
    server = MutantServer(home / "server", env, violate, args)
    report_dir = home / "report"
    try:
        server.start()
        target = server.write_target(home / "target.yaml")
        cmd = run_command(rules, profiles, target, report_dir, run_id, None, workers)
        # Each run builds and pushes its own charts: the inspector finds a case's objects by the run id
        # stamped into the chart, so charts of another run id would make white-box checks see nothing.
        # Its own run dir keeps parallel chart builds apart.
        log_path = home / "run.log"
        with open(log_path, "wb") as log:
            proc = subprocess.run(cmd, cwd=ROOT, env=clean_environ({"NVCF_RUN_DIR": str(home / "run")}), stdout=log,
                                  stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT, check=False)
        results, _, _ = load_results(report_dir / "results")
        return SuiteRun(results, proc.returncode, log_path)
    finally:
        server.stop()


def run_mutant(mutant: Mutant, env: SharedEnv, work: Path, *, smoke: Sequence[str],
               stop: threading.Event | None = None) -> Outcome:
    """Never raises for a mutant's own trouble: that is an INVALID outcome with the reason."""
    started = time.monotonic()
    home = work / slug(mutant.rule)
    report_dir = str(home / "report")
    if stop is not None and stop.is_set():
        return Outcome(mutant, Verdict(INVALID, (), "not run: interrupted"), 0.0, {}, tuple(smoke), "")
    if not env.alive():
        return Outcome(mutant, Verdict(INVALID, (), ENV_GONE), 0.0, {}, tuple(smoke), "")
    run_id = f"mut-{slug(mutant.rule)[:31]}-{secrets.token_hex(2)}"
    try:
        run = run_suites(home, env, mutant.violate, mutant.args, [mutant.rule, *smoke], profiles_for(mutant), run_id)
    except subprocess.TimeoutExpired:
        return Outcome(mutant, Verdict(INVALID, (), f"the run took over {RUN_TIMEOUT:.0f} s"),
                       time.monotonic() - started, {}, tuple(smoke), report_dir)
    except (ConformanceError, OSError) as exc:
        return Outcome(mutant, Verdict(INVALID, (), f"the mutant server did not start: {exc}"),
                       time.monotonic() - started, {}, tuple(smoke), report_dir)
    verdict = judge(mutant.rule, run.results)
    if verdict.status == INVALID and not run.results:
        verdict = Verdict(INVALID, (), f"the run left no results (exit {run.returncode}; log {run.log})")
    return Outcome(mutant, verdict, time.monotonic() - started, smoke_failures(smoke, run.results), tuple(smoke),
                   report_dir)
