"""The unmutated reference first: a rule that does not pass there would count as CAUGHT against any mutant.

The mutants are grouped by the extra server flags they need (e.g. `--policy enforced`); each group's
rules and smoke rules run once at a plain server started with those flags. A mutant whose rule fails in
its baseline is INVALID, whatever its own run says.
"""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from conformance.errors import ConformanceError
from conformance.mutation.environment import SharedEnv
from conformance.mutation.mutants import Mutant
from conformance.mutation.runner import RUN_TIMEOUT, Outcome, profiles_for, run_suites, slug
from conformance.mutation.verdict import INVALID, Verdict, smoke_failures

# The baseline is one long run; inside it pytest-xdist overlaps the waiting on deployments.
BASELINE_WORKERS = 2


@dataclass(frozen=True)
class Baseline:
    args: tuple[str, ...]
    rules: tuple[str, ...]
    failures: dict[str, str] = field(default_factory=dict)  # rule → what went wrong on the plain server
    seconds: float = 0.0
    report_dir: str = ""

    @property
    def label(self) -> str:
        return " ".join(self.args) or "(no flags)"


def groups(mutants: Iterable[Mutant]) -> dict[tuple[str, ...], list[Mutant]]:
    by_args: dict[tuple[str, ...], list[Mutant]] = {}
    for mutant in mutants:
        by_args.setdefault(mutant.args, []).append(mutant)
    return by_args


def run_baseline(args: tuple[str, ...], mutants: Sequence[Mutant], env: SharedEnv, work: Path,
                 smoke: Sequence[str]) -> Baseline:
    """Never raises: a baseline that cannot run marks every rule of its group as failed, with the reason."""
    started = time.monotonic()
    rules = tuple(sorted({m.rule for m in mutants} | set(smoke)))
    profiles = sorted({p for m in mutants for p in profiles_for(m)})
    home = work / f"baseline-{slug(' '.join(args)) or 'plain'}"
    run_id = f"mut-baseline-{secrets.token_hex(2)}"
    try:
        run = run_suites(home, env, (), args, rules, profiles, run_id, workers=BASELINE_WORKERS)
        failures = smoke_failures(rules, run.results)
    except subprocess.TimeoutExpired:
        failures = dict.fromkeys(rules, f"the baseline run took over {RUN_TIMEOUT:.0f} s")
    except (ConformanceError, OSError) as exc:
        failures = dict.fromkeys(rules, f"the unmutated server did not start: {exc}")
    return Baseline(args, rules, failures, time.monotonic() - started, str(home / "report"))


def judged(outcome: Outcome, baseline: Baseline | None) -> Outcome:
    """The outcome, INVALID when its rule did not pass on the unmutated server (its FAIL proves nothing)."""
    if baseline is None or outcome.mutant.rule not in baseline.failures:
        return outcome
    problem = baseline.failures[outcome.mutant.rule]
    return replace(outcome, verdict=Verdict(INVALID, (), f"does not pass on the unmutated reference either: {problem}",
                                            outcome.verdict.counts))
