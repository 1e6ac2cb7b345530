"""Everything the report writers share, computed once: rule outcomes, verdicts, repro folder names."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conformance import __version__
from conformance.catalog.load import Catalog
from conformance.report.load import LoadedRun
from conformance.report.model import Leftover, RunMeta, TestResult
from conformance.report.redact import Redactor
from conformance.report.verdict import (
    ProfileVerdict,
    RuleOutcome,
    claimed_profiles,
    exit_code,
    profile_verdicts,
    rule_outcomes,
)
from conformance.run_facts import Selection

if TYPE_CHECKING:
    from conformance.report.diff import Diff
    from conformance.report.reruns import Reruns

# Items that get a repro bundle: the ones a reader has to act on (XFAIL too: it is a known failure;
# FLAKY too: it failed at least once, and the bundle holds that attempt).
REPRO_STATUSES = frozenset({"FAIL", "ERROR", "XFAIL", "FLAKY"})
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def item_slug(result: TestResult) -> str:
    """A readable folder name for one item: RULE__case__param, made filesystem-safe."""
    parts = [result.rule_id, result.case or "", result.param or ""]
    slug = "__".join(_UNSAFE.sub("-", p).strip("-.") for p in parts if p)
    return slug[:120] or "item"


def cleanup_warning(leftover: Leftover) -> str:
    return f"cleanup failed, delete by hand: {leftover.describe()}"


@dataclass
class ReportContext:
    meta: RunMeta
    catalog: Catalog
    results: list[TestResult]
    claimed: tuple[str, ...]
    selection: Selection
    outcomes: list[RuleOutcome]
    verdicts: list[ProfileVerdict]
    complete: bool
    incomplete_reasons: list[str]
    warnings: list[str]
    redactor: Redactor
    target_config: str | None = None  # the config file the run used, for rerun commands
    harness_version: str = __version__
    repro: dict[str, str] = field(default_factory=dict)  # nodeid → "repro/<slug>"
    leftovers: list[Leftover] = field(default_factory=list)  # what cleanup could not remove (also warnings)
    facts: dict[str, Any] = field(default_factory=dict)  # what the run found out about the target
    reruns: Reruns | None = None  # what `run --rerun-failures` reran (attempts.py), None without reruns
    baseline: Diff | None = None  # the comparison with `run --baseline OLD` (diff.py), None without one

    @property
    def exit_code(self) -> int:
        return exit_code(self.verdicts)

    def status_counts(self) -> dict[str, int]:
        counted = Counter(r.status for r in self.results)
        return {s: counted[s] for s in ("PASS", "FAIL", "FLAKY", "ERROR", "SKIP", "XFAIL", "XPASS") if counted[s]}

    def certification_problems(self) -> list[str]:
        """Why this report cannot stand as a certification (empty: it can)."""
        problems: list[str] = []
        if not self.complete:
            problems.append("the run is incomplete")
        if self.selection:
            problems.append("the run was limited with --rule/--case")
        if any(r.status in ("XFAIL", "XPASS") for r in self.results):
            problems.append("an expectations file (XFAIL) was used: nightly only")
        bad = [v.profile for v in self.verdicts if v.verdict not in ("success", "partial")]
        if bad:
            problems.append(f"profile(s) not conformant: {', '.join(bad)}")
        if not self.verdicts:
            problems.append("no profile was judged")
        return problems


def build_context(
    run: LoadedRun,
    catalog: Catalog,
    *,
    secrets: list[str] | tuple[str, ...] = (),
    selection: Selection | None = None,
    target_config: str | Path | None = None,
    interrupted: bool = False,
    extra_incomplete: list[str] | tuple[str, ...] = (),
) -> ReportContext:
    # Without one given, what the run itself recorded it was limited to.
    selection = selection if selection is not None else Selection.from_json(run.meta.selection)
    incomplete = list(run.incomplete_reasons)
    if interrupted:
        incomplete.insert(0, "the run was interrupted (Ctrl-C or a signal)")
    incomplete.extend(extra_incomplete)
    complete = run.meta.complete and not incomplete
    claimed = claimed_profiles(run.meta.profiles)
    outcomes, warnings = rule_outcomes(run.results, catalog, claimed, selection, run.collected)
    verdicts = profile_verdicts(claimed, outcomes, complete, selection)
    ctx = ReportContext(
        meta=run.meta, catalog=catalog, results=list(run.results), claimed=claimed, selection=selection,
        outcomes=outcomes, verdicts=verdicts, complete=complete, incomplete_reasons=incomplete,
        # Leftovers first: they are the warnings someone has to act on (delete them by hand).
        warnings=[*map(cleanup_warning, run.leftovers), *run.warnings, *warnings], redactor=Redactor(secrets),
        target_config=str(target_config) if target_config else None, leftovers=list(run.leftovers),
        facts=dict(run.facts),
    )
    used: set[str] = set()
    for result in run.results:
        if result.status not in REPRO_STATUSES:
            continue
        slug = item_slug(result)
        if slug in used:
            # Same rule/case/param from two tests: the nodeid tells them apart.
            slug = f"{slug[:110]}-{hashlib.sha256(result.nodeid.encode()).hexdigest()[:8]}"
        used.add(slug)
        ctx.repro[result.nodeid] = f"repro/{slug}"
    return ctx
