"""The suites against a personality of the reference that behaves like a known implementation.

`reference serve --preset nvcf-oss-shipped` reproduces what NVIDIA's open-source NVCF observably does
with its shipped defaults (docs/…/nvidia-observed.md). The verdict every rule must get against it is
checked in as data (`personalities/<name>.yaml`): PASS, or FAIL where the catalog records the
divergence that explains it. A difference either way is a defect of the suites — a false FAIL of a
conformant behaviour, or a false PASS — so the run fails on any, naming the rule.
"""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from conformance.catalog.load import Catalog
from conformance.errors import ConfigError, ConformanceError
from conformance.mutation.environment import SharedEnv
from conformance.mutation.runner import RUN_TIMEOUT, run_suites
from conformance.report.model import TestResult
from conformance.report.verdict import rollup

PERSONALITIES = Path(__file__).resolve().with_name("personalities")
PERSONALITY = "nvcf-oss-shipped"  # the one CI checks: NVIDIA's open-source NVCF with its shipped defaults
VERDICTS = ("PASS", "FAIL", "SKIP")
WORKERS = 4  # the run waits on deployments, not on local CPUs


@dataclass(frozen=True)
class Expected:
    name: str
    args: tuple[str, ...]  # `reference serve` flags of the personality
    profiles: tuple[str, ...]
    verdicts: dict[str, str]


@dataclass(frozen=True)
class PersonalityRun:
    expected: Expected
    seen: dict[str, str]  # rule → roll-up status observed
    messages: dict[str, str] = field(default_factory=dict)  # rule → the first non-PASS item's message
    seconds: float = 0.0
    report_dir: str = ""
    problem: str | None = None  # the run could not be made

    @property
    def differences(self) -> list[str]:
        if self.problem:
            return [self.problem]
        found = []
        for rule, want in self.expected.verdicts.items():
            got = self.seen.get(rule, "NOT-RUN")
            if got != want:
                why = f": {self.messages[rule]}" if rule in self.messages else ""
                found.append(f"{rule}: expected {want}, got {got}{why}")
        found += [f"{rule}: {got}, but the table has no entry for it" for rule, got in self.seen.items()
                  if rule not in self.expected.verdicts]
        return found

    @property
    def ok(self) -> bool:
        return not self.differences


def load_expected(name: str, catalog: Catalog, folder: Path = PERSONALITIES) -> Expected:
    """The checked-in table, refused when it names unknown rules or a FAIL the catalog cannot explain."""
    path = folder / f"{name}.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the personality table ({exc})") from None
    verdicts = {str(k): str(v) for k, v in (data.get("verdicts") or {}).items()}
    for rule, verdict in verdicts.items():
        if rule not in catalog:
            raise ConfigError(f"{path}: verdicts: {rule} is not a catalog rule")
        if verdict not in VERDICTS:
            raise ConfigError(f"{path}: verdicts: {rule}: {verdict!r} is not one of {', '.join(VERDICTS)}")
        if verdict == "FAIL" and not catalog[rule].divergence:
            raise ConfigError(f"{path}: verdicts: {rule} is expected to FAIL but the catalog records no divergence "
                              "that explains it")
    missing = sorted(set(catalog.ids()) - set(verdicts))
    if missing:
        raise ConfigError(f"{path}: verdicts: no entry for {', '.join(missing)}")
    return Expected(name, tuple(data.get("args") or ()), tuple(data.get("profiles") or ()), verdicts)


def statuses(results: Sequence[TestResult]) -> tuple[dict[str, str], dict[str, str]]:
    """Per rule: the roll-up status, and the message of its first item that did not pass."""
    by_rule: dict[str, list[TestResult]] = {}
    for result in results:
        by_rule.setdefault(result.rule_id, []).append(result)
    seen = {rule: rollup(r.status for r in items) for rule, items in by_rule.items()}
    messages = {rule: next(r.message for r in items if r.status != "PASS")
                for rule, items in by_rule.items() if any(r.status != "PASS" for r in items)}
    return seen, messages


def run_personality(expected: Expected, env: SharedEnv, work: Path) -> PersonalityRun:
    """Never raises for the personality's own trouble: that is a run with a `problem`."""
    started = time.monotonic()
    home = work / f"personality-{expected.name}"
    run_id = f"pers-{secrets.token_hex(3)}"
    try:
        run = run_suites(home, env, (), expected.args, (), expected.profiles, run_id, workers=WORKERS)
    except subprocess.TimeoutExpired:
        return PersonalityRun(expected, {}, problem=f"the run took over {RUN_TIMEOUT:.0f} s",
                              seconds=time.monotonic() - started)
    except (ConformanceError, OSError) as exc:
        return PersonalityRun(expected, {}, problem=f"the {expected.name} server did not start: {exc}",
                              seconds=time.monotonic() - started)
    seen, messages = statuses(run.results)
    problem = None if run.results else f"the run left no results (exit {run.returncode}; log {run.log})"
    return PersonalityRun(expected, seen, messages, time.monotonic() - started, str(home / "report"), problem)
