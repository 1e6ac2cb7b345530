"""`mutation-report.yaml` and the terminal table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import yaml

from conformance.mutation.baseline import Baseline
from conformance.mutation.mutants import Mutant
from conformance.mutation.personality import PersonalityRun
from conformance.mutation.runner import Outcome
from conformance.mutation.twins import TwinsRun
from conformance.mutation.verdict import CAUGHT

REPORT_FILE = "mutation-report.yaml"


def score(outcomes: Sequence[Outcome]) -> tuple[int, int]:
    return sum(o.verdict.status == CAUGHT for o in outcomes), len(outcomes)


def document(outcomes: Sequence[Outcome], skipped: Sequence[Mutant], *, wall_seconds: float,
             environment: str, twins: TwinsRun | None = None,
             baselines: Sequence[Baseline] = (), personalities: Sequence[PersonalityRun] = ()) -> dict[str, Any]:
    caught, total = score(outcomes)
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "score": {"caught": caught, "mutants": total,
                  "percent": round(100.0 * caught / total, 1) if total else None},
        "wall_seconds": round(wall_seconds, 1),
        "environment": environment,
        "baseline": [
            {"server_flags": list(b.args), "rules": len(b.rules), "not_passing": dict(b.failures),
             "seconds": round(b.seconds, 1), "report": b.report_dir}
            for b in baselines
        ],
        "mutants": [
            {
                "rule": o.mutant.rule,
                "level": o.mutant.level,
                "mutant": list(o.mutant.violate) + list(o.mutant.args),
                "verdict": o.verdict.status,
                "caught": o.verdict.caught,
                "caught_by": list(o.verdict.caught_by),
                "message": o.verdict.message,
                "seconds": round(o.seconds, 1),
                "smoke": {"rules": list(o.smoke_rules), "ok": not o.smoke, "failures": dict(o.smoke)},
                **({"note": o.mutant.note} if o.mutant.note else {}),
                "report": o.report_dir,
            }
            for o in outcomes
        ],
        "without_mutant": [
            {"rule": m.rule, "level": m.level,
             **({"no-mutant": m.no_mutant} if m.no_mutant else {"pending": m.pending})}
            for m in skipped
        ],
        **({"chart_twins": twins_document(twins)} if twins is not None else {}),
        "personalities": [personality_document(run) for run in personalities],
    }


def personality_document(run: PersonalityRun) -> dict[str, Any]:
    """The suites against a personality: each rule's verdict, and where it differs from the table."""
    return {
        "personality": run.expected.name,
        "server_flags": list(run.expected.args),
        "profiles": list(run.expected.profiles),
        "matches_table": run.ok,
        "differences": run.differences,
        "seconds": round(run.seconds, 1),
        "verdicts": dict(sorted(run.seen.items())),
        "report": run.report_dir,
    }


def print_personality(run: PersonalityRun, out: TextIO) -> None:
    failing = sorted(rule for rule, status in run.seen.items() if status == "FAIL")
    print(f"personality {run.expected.name}: {len(run.seen)} rules, {len(failing)} FAIL as the table expects "
          f"({run.seconds:.0f} s){'' if run.ok else ' — DIFFERS from the table'}", file=out)
    for difference in run.differences:
        print(f"  {difference}", file=out)


def twins_document(run: TwinsRun) -> dict[str, Any]:
    """The fixed twins' deployments on the unmutated reference: each must PASS."""
    return {
        "total": len(run.results),
        "passed": len(run.passed),
        "failed": len(run.failed),
        "missing": list(run.missing),
        "seconds": round(run.seconds, 1),
        "failures": [{"twin": r.twin, "case": r.case, "reason": r.reason} for r in run.failed],
        "twins": [{"twin": r.twin, "case": r.case, "status": r.status, "seconds": round(r.seconds, 1),
                   "detail": r.reason} for r in run.results],
    }


def print_twins(run: TwinsRun, out: TextIO) -> None:
    print(f"chart twins: {len(run.passed)}/{len(run.results)} deployed and answered on the unmutated reference "
          f"({run.seconds:.0f} s)", file=out)
    for r in run.failed:
        print(f"  FAIL {r.twin}: {r.reason[:200]}", file=out)
    if run.missing:
        print(f"  {len(run.missing)} refused case(s) have no `twin:` section: {', '.join(run.missing)}", file=out)


def write(out: Path, doc: dict[str, Any]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / REPORT_FILE
    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=120, allow_unicode=True), encoding="utf-8")
    return path


def print_table(outcomes: Sequence[Outcome], skipped: Sequence[Mutant], wall_seconds: float, out: TextIO) -> None:
    width = max([len(o.mutant.rule) for o in outcomes] + [4]) + 2
    print(f"{'RULE':<{width}}{'LEVEL':<8}{'VERDICT':<10}{'TIME':>7}  SMOKE  DETAIL", file=out)
    for o in sorted(outcomes, key=lambda o: (o.verdict.status == CAUGHT, o.mutant.rule)):
        detail = o.verdict.caught_by[0].split("::")[-1] if o.verdict.caught else o.verdict.message
        smoke = "ok" if not o.smoke else "BROKE " + ",".join(sorted(o.smoke))
        print(f"{o.mutant.rule:<{width}}{o.mutant.level:<8}{o.verdict.status:<10}{o.seconds:>6.0f}s  "
              f"{smoke:<5}  {detail[:100]}", file=out)
    for m in skipped:
        kind = "NO-MUTANT" if m.no_mutant else "PENDING"
        print(f"{m.rule:<{width}}{m.level:<8}{kind:<10}{'':>7}  {'':<5}  {(m.no_mutant or m.pending or '')[:100]}",
              file=out)
    caught, total = score(outcomes)
    pct = f"{100.0 * caught / total:.1f}%" if total else "n/a"
    print(f"\nmutation score: {caught}/{total} caught ({pct}); {len(skipped)} rule(s) without a mutant; "
          f"wall time {wall_seconds:.0f} s", file=out)
