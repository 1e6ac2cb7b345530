"""Compare two conformance reports: what regressed, what was fixed, what changed, what got slower.

Input is two report documents: verified YAML (`load_report`: the strict loader and the content digest,
so a tampered or damaged report is refused, never compared), or the document a run is about to seal
(`run --baseline`). Rules are matched by id, items by nodeid. Groups, a rule may be in several:

  newly_failing   the rule is FAIL/XFAIL now and was not before (also after FLAKY: it now fails every time)
  newly_flaky     the rule is FLAKY now and was neither failing nor FLAKY before
  new_errors      items that count as ERROR now (ERROR, or a FLAKY of ERRORs and PASSes) and did not before
  fixed           the rule was FAIL/XFAIL/FLAKY and is PASS/XPASS now
  status_changed  any other change of a rule's status (PASS → SKIP, FAIL → ERROR, … → INCOMPLETE)
  outcome_changed the same item status both times, another observed outcome (refused-at-creation →
                  refused-at-deployment: the refusal moved to another phase)
  slower          items at least `factor` times slower AND `floor_s` seconds slower (both must hold:
                  a 0.2 s item taking 0.5 s is noise, a 300 s item taking 311 s too)
  rules_added / rules_removed   the catalog changed between the runs
  only_in_old / only_in_new     rules with results in one run only (e.g. another --rule selection)

A run regressed when a rule is newly failing, newly flaky (it failed in some attempt, which its verdict
counts as a failure or an error) or an item newly errors; `report diff` exits 1 then.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from conformance.errors import ConformanceError
from conformance.report import digest

DEFAULT_FACTOR = 2.0
DEFAULT_FLOOR_S = 10.0
_FAILING = frozenset({"FAIL", "XFAIL"})
_PASSING = frozenset({"PASS", "XPASS"})
_FLAKY = "FLAKY"
_NOT_RUN = "NOT-RUN"


class DiffInputError(ConformanceError):
    """A report cannot be compared (unreadable, tampered, not a report). `str()` is one line."""


@dataclass(frozen=True)
class Thresholds:
    factor: float = DEFAULT_FACTOR  # new duration ≥ factor times old
    floor_s: float = DEFAULT_FLOOR_S  # and new duration ≥ old + floor_s

    def slower(self, old: float, new: float) -> bool:
        return new >= old * self.factor and new - old >= self.floor_s


@dataclass(frozen=True)
class ReportRef:
    run_id: str
    implementation: str
    started_at: str
    digest: str | None  # the report's content digest (names exactly what was compared); None: not sealed yet

    def describe(self) -> str:
        return f"{self.run_id} ({self.implementation}, {self.started_at})"


@dataclass(frozen=True)
class Item:
    nodeid: str
    status: str
    outcome: str | None
    message: str
    duration_s: float
    counts_as: str | None  # for FLAKY: FAIL or ERROR


@dataclass(frozen=True)
class Rule:
    rule_id: str
    level: str
    status: str
    in_scope: bool
    items: dict[str, Item]


@dataclass(frozen=True)
class ItemChange:
    nodeid: str
    old_status: str | None  # None: the item is new
    new_status: str | None  # None: the item is gone
    old_outcome: str | None = None
    new_outcome: str | None = None
    message: str = ""  # the new message (the old one when the item is gone)
    old_duration_s: float | None = None
    new_duration_s: float | None = None


@dataclass(frozen=True)
class RuleChange:
    rule_id: str
    level: str
    old_status: str | None  # None: not in the old report's catalog
    new_status: str | None  # None: not in the new report's catalog
    items: tuple[ItemChange, ...] = ()  # the items behind the change


@dataclass(frozen=True)
class VerdictChange:
    profile: str
    old: str | None  # None: the profile was not judged in that run
    new: str | None


@dataclass(frozen=True)
class Diff:
    old: ReportRef
    new: ReportRef
    thresholds: Thresholds
    verdicts: tuple[VerdictChange, ...]
    newly_failing: tuple[RuleChange, ...]
    newly_flaky: tuple[RuleChange, ...]
    new_errors: tuple[RuleChange, ...]
    fixed: tuple[RuleChange, ...]
    status_changed: tuple[RuleChange, ...]
    outcome_changed: tuple[RuleChange, ...]
    slower: tuple[RuleChange, ...]
    rules_added: tuple[RuleChange, ...]
    rules_removed: tuple[RuleChange, ...]
    only_in_old: tuple[str, ...]
    only_in_new: tuple[str, ...]

    @property
    def regressed(self) -> bool:
        return bool(self.newly_failing or self.newly_flaky or self.new_errors)

    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in GROUPS}

    def to_dict(self) -> dict[str, Any]:
        """JSON-shaped (it is sealed into a report under `baseline:`, and printed by `--json`)."""
        return _lists({"old": asdict(self.old), "new": asdict(self.new), "regressed": self.regressed,
                       "thresholds": asdict(self.thresholds), "counts": self.counts(),
                       "verdicts": [asdict(v) for v in self.verdicts],
                       **{name: [asdict(c) for c in getattr(self, name)] for name in GROUPS},
                       "only_in_old": self.only_in_old, "only_in_new": self.only_in_new})


def _lists(value: Any) -> Any:
    # asdict keeps tuples, which a sealed report refuses (YAML would not give them back as tuples).
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_lists(v) for v in value]
    return value


# The groups in the order a reader should see them: regressions first.
GROUPS: tuple[str, ...] = ("newly_failing", "newly_flaky", "new_errors", "fixed", "status_changed",
                           "outcome_changed", "slower", "rules_added", "rules_removed")


# ── reading ──────────────────────────────────────────────────────────────────────────────────────


def load_report(path: str | Path, label: str) -> dict[str, Any]:
    """The verified document of a report folder or YAML; DiffInputError (one line) when it cannot be trusted."""
    try:
        return digest.verify(path)
    except digest.Unreadable as exc:
        raise DiffInputError(f"{label}: unreadable: {exc}") from None
    except digest.DigestProblem as exc:
        raise DiffInputError(f"{label}: TAMPERED: {exc}; a changed report cannot be compared") from None


def _text(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) else default


def _seconds(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _items(rule_id: str, raw: Any, label: str) -> dict[str, Item]:
    if not isinstance(raw, list):
        raise DiffInputError(f"{label}: rule {rule_id}: `items` is not a list")
    items: dict[str, Item] = {}
    for entry in raw:
        if not isinstance(entry, dict) or not isinstance(entry.get("nodeid"), str) \
                or not isinstance(entry.get("status"), str):
            raise DiffInputError(f"{label}: rule {rule_id}: an item without nodeid or status")
        outcome = entry.get("outcome")
        items[entry["nodeid"]] = Item(entry["nodeid"], entry["status"], outcome if isinstance(outcome, str) else None,
                                      _text(entry.get("message")), _seconds(entry.get("duration_s")),
                                      entry.get("counts_as") if isinstance(entry.get("counts_as"), str) else None)
    return items


def rules_of(document: Mapping[str, Any], label: str) -> dict[str, Rule]:
    """Rule id → the rule as the report shows it, in the report's order."""
    raw = document.get("rules")
    if not isinstance(raw, list):
        raise DiffInputError(f"{label}: not a conformance report (no `rules` list)")
    rules: dict[str, Rule] = {}
    for entry in raw:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) \
                or not isinstance(entry.get("status"), str):
            raise DiffInputError(f"{label}: a rule without id or status")
        items = _items(entry["id"], entry.get("items", []), label)
        rules[entry["id"]] = Rule(entry["id"], _text(entry.get("level"), "?"), entry["status"],
                                  entry.get("in_scope") is not False, items)
    return rules


def _ref(document: Mapping[str, Any]) -> ReportRef:
    impl = document.get("implementation")
    impl = impl if isinstance(impl, dict) else {}
    name = " ".join(_text(impl.get(k)) for k in ("name", "version")).strip() or "unknown"
    seal = document.get(digest.DIGEST_KEY)
    value = seal.get("value") if isinstance(seal, dict) else None
    return ReportRef(_text(document.get("run_id"), "unknown"), name, _text(document.get("started_at"), "unknown"),
                     value if isinstance(value, str) else None)


def _verdicts(document: Mapping[str, Any]) -> dict[str, str]:
    raw = document.get("verdicts")
    if not isinstance(raw, dict):
        return {}
    return {str(p): _text(v.get("verdict"), "?") for p, v in raw.items() if isinstance(v, dict)}


# ── comparing ────────────────────────────────────────────────────────────────────────────────────


def _counts_as(item: Item) -> str:
    """What an item means for a verdict; a FLAKY from an older writer without `counts_as` is a FAIL."""
    if item.status == _FLAKY:
        return item.counts_as or "FAIL"
    return {"XFAIL": "FAIL", "XPASS": "PASS"}.get(item.status, item.status)


def _change(nodeid: str, old: Item | None, new: Item | None) -> ItemChange:
    shown = new or old
    return ItemChange(nodeid, old.status if old else None, new.status if new else None,
                      old.outcome if old else None, new.outcome if new else None,
                      shown.message if shown else "", old.duration_s if old else None,
                      new.duration_s if new else None)


def _items_where(old: Rule | None, new: Rule, wanted: Iterable[str]) -> tuple[ItemChange, ...]:
    """New items whose status is in `wanted` and was not (or that did not exist) before."""
    statuses = set(wanted)
    before = old.items if old else {}
    return tuple(_change(n, before.get(n), item) for n, item in new.items.items()
                 if item.status in statuses and (n not in before or before[n].status not in statuses))


def _new_errors(old: Rule | None, new: Rule) -> tuple[ItemChange, ...]:
    before = old.items if old else {}
    return tuple(_change(n, before.get(n), item) for n, item in new.items.items()
                 if _counts_as(item) == "ERROR" and (n not in before or _counts_as(before[n]) != "ERROR"))


def _status_items(old: Rule, new: Rule) -> tuple[ItemChange, ...]:
    def status(item: Item | None) -> str | None:
        return item.status if item else None

    nodeids = dict.fromkeys([*new.items, *old.items])
    return tuple(_change(n, old.items.get(n), new.items.get(n)) for n in nodeids
                 if status(old.items.get(n)) != status(new.items.get(n)))


def _outcome_items(old: Rule, new: Rule) -> tuple[ItemChange, ...]:
    return tuple(_change(n, old.items[n], item) for n, item in new.items.items()
                 if n in old.items and old.items[n].status == item.status and old.items[n].outcome != item.outcome)


def _slower_items(old: Rule, new: Rule, thresholds: Thresholds) -> tuple[ItemChange, ...]:
    return tuple(_change(n, old.items[n], item) for n, item in new.items.items()
                 if n in old.items and item.status != "SKIP"
                 and thresholds.slower(old.items[n].duration_s, item.duration_s))


def compare(old_doc: Mapping[str, Any], new_doc: Mapping[str, Any], thresholds: Thresholds | None = None,
            *, labels: tuple[str, str] = ("OLD", "NEW")) -> Diff:
    thresholds = thresholds or Thresholds()
    old_rules, new_rules = rules_of(old_doc, labels[0]), rules_of(new_doc, labels[1])
    groups: dict[str, list[RuleChange]] = {name: [] for name in GROUPS}
    only_old: list[str] = []
    only_new: list[str] = []
    for rule_id, new in new_rules.items():
        old = old_rules.get(rule_id)
        if old is None:
            groups["rules_added"].append(RuleChange(rule_id, new.level, None, new.status))
            continue
        if bool(old.items) != bool(new.items):
            (only_new if new.items else only_old).append(rule_id)
            continue
        change = RuleChange(rule_id, new.level, old.status, new.status)
        placed = False
        if new.status in _FAILING and old.status not in _FAILING:
            groups["newly_failing"].append(_with(change, _items_where(old, new, _FAILING)))
            placed = True
        elif new.status == _FLAKY and old.status not in (*_FAILING, _FLAKY):
            groups["newly_flaky"].append(_with(change, _items_where(old, new, (_FLAKY,))))
            placed = True
        elif old.status in (*_FAILING, _FLAKY) and new.status in _PASSING:
            groups["fixed"].append(_with(change, _status_items(old, new)))
            placed = True
        errors = _new_errors(old, new)
        if errors:
            groups["new_errors"].append(_with(change, errors))
            placed = True
        if not placed and old.status != new.status:
            groups["status_changed"].append(_with(change, _status_items(old, new)))
        outcomes = _outcome_items(old, new)
        if outcomes:
            groups["outcome_changed"].append(_with(change, outcomes))
        slower = _slower_items(old, new, thresholds)
        if slower:
            groups["slower"].append(_with(change, slower))
    for rule_id, old in old_rules.items():
        if rule_id not in new_rules:
            groups["rules_removed"].append(RuleChange(rule_id, old.level, old.status, None))
    old_verdicts, new_verdicts = _verdicts(old_doc), _verdicts(new_doc)
    verdicts = tuple(VerdictChange(p, old_verdicts.get(p), new_verdicts.get(p))
                     for p in dict.fromkeys([*new_verdicts, *old_verdicts])
                     if old_verdicts.get(p) != new_verdicts.get(p))
    return Diff(
        old=_ref(old_doc), new=_ref(new_doc), thresholds=thresholds, verdicts=verdicts,
        **{name: tuple(changes) for name, changes in groups.items()},  # type: ignore[arg-type]
        only_in_old=tuple(only_old), only_in_new=tuple(only_new),
    )


def _with(change: RuleChange, items: tuple[ItemChange, ...]) -> RuleChange:
    return RuleChange(change.rule_id, change.level, change.old_status, change.new_status, items)
