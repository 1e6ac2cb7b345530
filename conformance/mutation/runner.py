"""Run one mutant: start its server, run its rule (and the smoke rules) at it, judge, stop it."""

from __future__ import annotations

import os
import re
import secrets
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
                manifest: Path | None) -> list[str]:
    cmd = [sys.executable, "-m", "conformance.cli", "run", "--target-config", str(target), "--run-id", run_id,
           "--report-dir", str(report_dir)]
    for rule in rules:
        cmd += ["--rule", rule]
    for profile in profiles:
        cmd += ["--profile", profile]
    if manifest is not None:
        cmd += ["--charts-manifest", str(manifest)]
    return cmd


def profiles_for(mutant: Mutant) -> list[str]:
    return [p for p in mutant.profiles if p != "core"]


def run_mutant(mutant: Mutant, env: SharedEnv, work: Path, *, smoke: Sequence[str],
               stop: threading.Event | None = None) -> Outcome:
    """Never raises for a mutant's own trouble: that is an INVALID outcome with the reason."""
    started = time.monotonic()
    home = work / slug(mutant.rule)
    if stop is not None and stop.is_set():
        return Outcome(mutant, Verdict(INVALID, (), "not run: interrupted"), 0.0, {}, tuple(smoke), "")
    if not env.alive():
        return Outcome(mutant, Verdict(INVALID, (), ENV_GONE), 0.0, {}, tuple(smoke), "")
    report_dir = home / "report"
    server = MutantServer(home / "server", env, mutant.violate, mutant.args)
    try:
        server.start()
        target = server.write_target(home / "target.yaml")
        run_id = f"mut-{slug(mutant.rule)[:40]}-{secrets.token_hex(2)}"
        cmd = run_command([mutant.rule, *smoke], profiles_for(mutant), target, report_dir, run_id, None)
        # Each run builds and pushes its own charts: the inspector finds a case's objects by the run id
        # stamped into the chart, so charts of another run id would make white-box checks see nothing.
        # Its own run dir keeps parallel chart builds apart.
        with open(home / "run.log", "wb") as log:
            proc = subprocess.run(cmd, cwd=ROOT, env=clean_environ({"NVCF_RUN_DIR": str(home / "run")}), stdout=log,
                                  stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT, check=False)
        results, _, _ = load_results(report_dir / "results")
        verdict = judge(mutant.rule, results)
        if verdict.status == INVALID and not results:
            verdict = Verdict(INVALID, (), f"the run left no results (exit {proc.returncode}; log {home / 'run.log'})")
        return Outcome(mutant, verdict, time.monotonic() - started, smoke_failures(smoke, results), tuple(smoke),
                       str(report_dir))
    except subprocess.TimeoutExpired:
        return Outcome(mutant, Verdict(INVALID, (), f"the run took over {RUN_TIMEOUT:.0f} s"),
                       time.monotonic() - started, {}, tuple(smoke), str(report_dir))
    except (ConformanceError, OSError) as exc:
        return Outcome(mutant, Verdict(INVALID, (), f"the mutant server did not start: {exc}"),
                       time.monotonic() - started, {}, tuple(smoke), str(report_dir))
    finally:
        server.stop()

