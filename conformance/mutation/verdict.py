"""CAUGHT / SURVIVED / INVALID: what one mutant's run says about the suites."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from conformance.report.model import TestResult

CAUGHT = "CAUGHT"
SURVIVED = "SURVIVED"
INVALID = "INVALID"


@dataclass(frozen=True)
class Verdict:
    status: str
    caught_by: tuple[str, ...] = ()  # node ids of the FAILs
    message: str = ""
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def caught(self) -> bool:
        return self.status == CAUGHT


def judge(rule: str, results: Iterable[TestResult]) -> Verdict:
    """CAUGHT: at least one item of `rule` FAILs and none is ERROR; SURVIVED: nothing FAILs; INVALID: an
    ERROR (the harness, not the mutant, decided the run) or no item of the rule ran at all."""
    mine = [r for r in results if r.rule_id == rule]
    counts: dict[str, int] = {}
    for r in mine:
        counts[r.status] = counts.get(r.status, 0) + 1
    errors = [r for r in mine if r.status == "ERROR"]
    fails = [r for r in mine if r.status == "FAIL"]
    if errors:
        return Verdict(INVALID, tuple(r.nodeid for r in fails), f"ERROR in {errors[0].nodeid}: {errors[0].message}",
                       counts)
    ran = [r for r in mine if r.status in ("PASS", "FAIL")]
    if not ran:
        seen = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no items"
        return Verdict(INVALID, (), f"no item of {rule} ran ({seen})", counts)
    if fails:
        return Verdict(CAUGHT, tuple(r.nodeid for r in fails), fails[0].message, counts)
    return Verdict(SURVIVED, (), f"all {len(ran)} item(s) passed against the mutant", counts)


def smoke_failures(rules: Iterable[str], results: Iterable[TestResult]) -> dict[str, str]:
    """Smoke rules that did not pass, with the status seen (a mutant should break one behaviour only)."""
    seen = list(results)
    problems: dict[str, str] = {}
    for rule in rules:
        mine = [r for r in seen if r.rule_id == rule]
        bad = [r for r in mine if r.status not in ("PASS", "SKIP")]
        if not mine:
            problems[rule] = "not run"
        elif bad:
            problems[rule] = f"{bad[0].status}: {bad[0].message}"[:300]
    return problems
