"""From item results to rule statuses to one verdict per claimed profile.

Rule roll-up (the status a rule shows, over all its items — params and cases):
    FAIL > XFAIL > ERROR > INCOMPLETE > XPASS > PASS > SKIP, and NOT-RUN when no item of the rule reported.
  - FAIL first: one failing item proves the implementation breaks the rule, whatever else happened.
  - XFAIL is a failure someone expected (nightly expectations file); it still is a failure, so it
    outranks ERROR. For verdicts it counts exactly as FAIL: expectations never buy conformance.
  - ERROR outranks PASS: an item the harness could not judge leaves the rule unproven.
  - XPASS is a PASS that an expectations file did not believe in; for verdicts it counts as PASS.
  - SKIP only when every item skipped; PASS+SKIP shows PASS, but see the MUST rule below.
  - INCOMPLETE when some of the rule's collected items reported and others did not (the run stopped
    between them): 4 of 13 variants passing is not a PASS. A FAIL or ERROR among them still shows.
  - FLAKY (an item rerun with `run --rerun-failures N` that passed in some attempts and failed or
    errored in others) sits below FAIL/XFAIL, which are failures every time they were looked at, and
    above ERROR: it carries at least as much as an ERROR does. It never reads as PASS.

What FLAKY counts as for verdicts (`verdict_status`): FAIL when some attempt FAILed (an implementation
that fails a MUST sometimes has failed it: one observed violation is a violation, however many passes
surround it), else ERROR (only ERRORs and PASSes: the harness could not judge every attempt, so nothing
is proven either way). Reruns therefore never improve a verdict; they tell a reader which failures are
intermittent.

Profile verdict (over the in-scope rules that list the profile; first match wins):
  1. failure — some MUST rule has a FAIL/XFAIL item (or a FLAKY one that FAILed in some attempt).
     Definitive even in an incomplete or erroring run: what was observed is already a broken requirement.
  2. error   — no verdict is possible: the run is incomplete (interrupted, data lost), some rule has
     an ERROR item, a MUST rule has a SKIP item (a MUST never skips: it was not verified), or an
     in-scope rule has no result at all (NOT-RUN) or not for every item (INCOMPLETE), or the profile
     has no rule in scope.
  3. partial — only SHOULD/EXT rules have FAIL/XFAIL items.
  4. success — every rule PASS/XPASS, with SKIP only on SHOULD/EXT items.
An incomplete run therefore ends as `failure` or `error`, never `success` or `partial`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from conformance.catalog.load import Catalog
from conformance.report.model import FLAKY, TestResult, Verdict
from conformance.run_facts import Selection

ROLLUP_ORDER: tuple[str, ...] = ("FAIL", "XFAIL", FLAKY, "ERROR", "XPASS", "PASS", "SKIP")  # item statuses
NOT_RUN = "NOT-RUN"
INCOMPLETE = "INCOMPLETE"
# Where INCOMPLETE sits: below what an item that ran proves (FAIL) or leaves unproven (ERROR), above
# every status that would otherwise read as "verified".
_RULE_ORDER: tuple[str, ...] = ("FAIL", "XFAIL", FLAKY, "ERROR", INCOMPLETE, "XPASS", "PASS", "SKIP")
# What an item status means for a verdict (expectations change the display, never the verdict).
# FLAKY depends on its attempts: see verdict_status().
VERDICT_STATUS = {"FAIL": "FAIL", "XFAIL": "FAIL", "ERROR": "ERROR", "XPASS": "PASS", "PASS": "PASS", "SKIP": "SKIP"}
VERDICT_ORDER: tuple[Verdict, ...] = ("failure", "error", "partial", "success")


def verdict_status(result: TestResult) -> str:
    """What one item counts as for verdicts: FAIL, ERROR, PASS or SKIP (see the module text for FLAKY)."""
    if result.status == FLAKY:
        failed = any(VERDICT_STATUS.get(a.status) == "FAIL" for a in result.attempts)
        return "FAIL" if failed else "ERROR"
    return VERDICT_STATUS.get(result.status, "ERROR")


def rollup(statuses: Iterable[str], unreported: int = 0) -> str:
    """The status a rule shows for the given item statuses and count of collected items that did not
    report (NOT-RUN when none reported)."""
    present = set(statuses)
    if present and unreported:
        present.add(INCOMPLETE)
    for status in _RULE_ORDER:
        if status in present:
            return status
    return NOT_RUN


@dataclass(frozen=True)
class RuleOutcome:
    rule_id: str
    level: str
    profiles: tuple[str, ...]
    in_scope: bool  # the run's claimed profiles (and selection) cover it, so it counts for verdicts
    items: tuple[TestResult, ...]
    statement: str = ""
    divergence: str | None = None
    known: bool = True  # False when the results name a rule the catalog does not have
    unreported: tuple[str, ...] = ()  # nodeids collected for the rule that never reported a result

    @property
    def status(self) -> str:
        return rollup((i.status for i in self.items), len(self.unreported))

    @property
    def counts(self) -> dict[str, int]:
        counted = Counter(i.status for i in self.items)
        return {s: counted[s] for s in ROLLUP_ORDER if counted[s]}

    @property
    def skipped_must(self) -> bool:
        return self.level == "MUST" and any(i.status == "SKIP" for i in self.items)

    def verdict_statuses(self) -> set[str]:
        return {verdict_status(i) for i in self.items}

    @property
    def flaky(self) -> bool:
        return any(i.status == FLAKY for i in self.items)


@dataclass(frozen=True)
class ProfileVerdict:
    profile: str
    verdict: Verdict
    reasons: tuple[str, ...]
    rules: tuple[str, ...]
    counts: dict[str, int] = field(default_factory=dict)  # rule statuses over the profile's rules


def claimed_profiles(profiles: Sequence[str]) -> tuple[str, ...]:
    """`core` is always claimed; the rest in the order given, once each."""
    return tuple(dict.fromkeys(("core", *profiles)))


def rule_outcomes(
    results: Sequence[TestResult], catalog: Catalog, claimed: Sequence[str], selection: Selection | None = None,
    collected: Mapping[str, Sequence[str]] | None = None,
) -> tuple[list[RuleOutcome], list[str]]:
    """One outcome per catalog rule (in catalog order), then rules only the results name; plus warnings.

    `collected` (rule id → nodeids the run meant to run) tells which items never reported; without it
    (an older plugin) nothing is known to be missing.
    """
    selection = selection or Selection()
    warnings: list[str] = []
    by_rule: dict[str, list[TestResult]] = {}
    for result in results:
        by_rule.setdefault(result.rule_id, []).append(result)
    reported = {r.nodeid for r in results}
    unreported = {rule_id: tuple(n for n in nodeids if n not in reported)
                  for rule_id, nodeids in (collected or {}).items()}
    outcomes: list[RuleOutcome] = []
    for rule in catalog:
        items = tuple(by_rule.pop(rule.id, ()))
        odd_levels = sorted({i.level for i in items} - {rule.level})
        if odd_levels:
            warnings.append(f"{rule.id}: results say level {', '.join(odd_levels)}, the catalog {rule.level} (used)")
        selected = (not selection.rules or rule.id in selection.rules) and (
            not selection.cases or bool(set(rule.charts) & set(selection.cases))
        )
        outcomes.append(RuleOutcome(
            rule_id=rule.id, level=rule.level, profiles=rule.profiles, in_scope=rule.applies(claimed) and selected,
            items=items, statement=rule.statement, divergence=rule.divergence, unreported=unreported.get(rule.id, ()),
        ))
    for rule_id, items in by_rule.items():
        warnings.append(f"{rule_id}: not in the rule catalog; its results are shown but count for no verdict")
        first = items[0]
        outcomes.append(RuleOutcome(
            rule_id=rule_id, level=first.level, profiles=first.profiles, in_scope=False, items=tuple(items),
            known=False, unreported=unreported.get(rule_id, ()),
        ))
    return outcomes, warnings


def _ids(rule_ids: Sequence[str], limit: int = 6) -> str:
    # A reason is one readable line; the full list is in the report's per-rule section.
    shown = ", ".join(rule_ids[:limit])
    return shown if len(rule_ids) <= limit else f"{shown} (+{len(rule_ids) - limit} more)"


def profile_verdict(
    profile: str, outcomes: Sequence[RuleOutcome], complete: bool) -> ProfileVerdict:
    rules = [o for o in outcomes if o.in_scope and profile in o.profiles]
    counts = Counter(o.status for o in rules)
    ids = tuple(o.rule_id for o in rules)
    must_failed = [o.rule_id for o in rules if o.level == "MUST" and "FAIL" in o.verdict_statuses()]
    reasons: list[str] = []
    if not complete:
        # The causes are listed once for the whole run (incomplete_reasons), not in every profile.
        reasons.append("the run is incomplete")
    if not rules:
        reasons.append("no rule of this profile was in scope")
    errored = [o.rule_id for o in rules if "ERROR" in o.verdict_statuses()]
    if errored:
        reasons.append(f"harness/environment error in: {_ids(errored)}")
    skipped = [o.rule_id for o in rules if o.skipped_must]
    if skipped:
        reasons.append(f"MUST rule(s) skipped, so not verified: {_ids(skipped)}")
    not_run = [o.rule_id for o in rules if not o.items]
    if not_run:
        reasons.append(f"no result for: {_ids(not_run)}")
    unfinished = [o.rule_id for o in rules if o.status == INCOMPLETE]
    if unfinished:
        reasons.append(f"not every item ran: {_ids(unfinished)}")
    flaky = [o.rule_id for o in rules if o.flaky]
    # Said whatever the verdict, never a cause of it: FLAKY already counts as FAIL or ERROR above.
    flaky_note = (f"flaky (passed and failed across reruns): {_ids(flaky)}",) if flaky else ()
    if must_failed:
        # The other problems do not change a failure, but a reader fixing it should see them too.
        return ProfileVerdict(profile, "failure", (f"MUST rule(s) failed: {_ids(must_failed)}", *reasons,
                                                   *flaky_note), ids, dict(counts))
    if reasons:
        return ProfileVerdict(profile, "error", (*reasons, *flaky_note), ids, dict(counts))
    soft_failed = [o.rule_id for o in rules if "FAIL" in o.verdict_statuses()]
    if soft_failed:
        return ProfileVerdict(profile, "partial", (f"SHOULD/EXT rule(s) failed: {_ids(soft_failed)}", *flaky_note),
                              ids, dict(counts))
    return ProfileVerdict(profile, "success", (), ids, dict(counts))


def profile_verdicts(
    claimed: Sequence[str],
    outcomes: Sequence[RuleOutcome],
    complete: bool,
    selection: Selection | None = None,
) -> list[ProfileVerdict]:
    """A verdict per claimed profile; under a selection, profiles the selection does not touch are left out."""
    verdicts = []
    for profile in claimed:
        if selection and not any(o.in_scope and profile in o.profiles for o in outcomes):
            continue
        verdicts.append(profile_verdict(profile, outcomes, complete))
    return verdicts


def exit_code(verdicts: Sequence[ProfileVerdict]) -> int:
    """0 conformant (all success/partial), 1 a MUST failed, 2 no verdict possible (or nothing judged).

    A MUST failure outranks errors elsewhere: non-conformance is already established.
    """
    found = {v.verdict for v in verdicts}
    if "failure" in found:
        return 1
    if "error" in found or not verdicts:
        return 2
    return 0
