"""The text forms of a report diff: the grouped page `report diff` prints, and the one line `run --baseline`
prints under its verdicts."""

from __future__ import annotations

from conformance.report.diff import Diff, ItemChange, RuleChange

TITLES = {
    "newly_failing": "Newly failing",
    "newly_flaky": "Newly flaky (passed and failed across reruns)",
    "new_errors": "New ERRORs (no verdict possible for these items)",
    "fixed": "Fixed",
    "status_changed": "Status changed",
    "outcome_changed": "Outcome changed (same status, another observed outcome or refusal phase)",
    "slower": "Slower",
    "rules_added": "Rules added to the catalog",
    "rules_removed": "Rules removed from the catalog",
}
# What the one-line summary calls each group (singular, plural).
_SHORT = {
    "newly_failing": ("newly failing", "newly failing"),
    "newly_flaky": ("newly flaky", "newly flaky"),
    "new_errors": ("new ERROR", "new ERRORs"),
    "fixed": ("fixed", "fixed"),
    "status_changed": ("status changed", "statuses changed"),
    "outcome_changed": ("outcome changed", "outcomes changed"),
    "slower": ("slower", "slower"),
    "rules_added": ("rule added", "rules added"),
    "rules_removed": ("rule removed", "rules removed"),
}
_MESSAGE = 160
_REGRESSIONS = frozenset({"newly_failing", "newly_flaky", "new_errors"})  # named in the headline


def _one_line(text: str, limit: int = _MESSAGE) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _where(nodeid: str) -> str:
    # The suites folder is the same in every report; the file and test name are what tell items apart.
    path, sep, rest = nodeid.partition("::")
    return f"{path.rsplit('/', 1)[-1]}{sep}{rest}"


def _arrow(old: str | None, new: str | None) -> str:
    return f"{old or '(none)'} → {new or '(none)'}"


def item_line(group: str, item: ItemChange) -> str:
    if group == "slower":
        old, new = item.old_duration_s or 0.0, item.new_duration_s or 0.0
        factor = f" (x{new / old:.1f})" if old > 0 else ""
        return f"    {_where(item.nodeid)}  {old:.1f} s → {new:.1f} s{factor}"
    if group == "outcome_changed":
        return f"    {_where(item.nodeid)}  {_arrow(item.old_outcome, item.new_outcome)}"
    message = f": {_one_line(item.message)}" if item.message and item.new_status not in ("PASS", None) else ""
    return f"    {_where(item.nodeid)}  {_arrow(item.old_status, item.new_status)}{message}"


def _rule_line(group: str, change: RuleChange) -> str:
    if group in ("outcome_changed", "slower") and change.old_status == change.new_status:
        status = change.new_status or ""
    elif group == "rules_added":
        status = f"new, {change.new_status}"
    elif group == "rules_removed":
        status = f"was {change.old_status}"
    else:
        status = _arrow(change.old_status, change.new_status)
    return f"  {change.rule_id}  {change.level}  {status}"


def _ids(rule_ids: tuple[str, ...] | list[str], limit: int = 8) -> str:
    shown = ", ".join(rule_ids[:limit])
    return shown if len(rule_ids) <= limit else f"{shown} (+{len(rule_ids) - limit} more)"


def headline(diff: Diff) -> str:
    """REGRESSED/no regression, with the group counts that are not zero and the verdicts that changed."""
    parts = [f"{n} {_SHORT[g][n != 1]}" + (f" ({_ids([c.rule_id for c in getattr(diff, g)])})" if g in _REGRESSIONS
                                           else "")
             for g, n in diff.counts().items() if n]
    for side, rules in (("OLD", diff.only_in_old), ("NEW", diff.only_in_new)):
        if rules:
            parts.append(f"{len(rules)} rule{'s' if len(rules) != 1 else ''} with results only in {side}")
    parts += [f"verdict {v.profile} {_arrow(v.old, v.new)}" for v in diff.verdicts]
    if not parts:
        return "no change in verdicts, statuses, outcomes or durations"
    return f"{'REGRESSED' if diff.regressed else 'no regression'}: {', '.join(parts)}"


def render(diff: Diff) -> str:
    """The grouped page of `report diff`."""
    lines = [f"report diff: OLD {diff.old.describe()}", f"          → NEW {diff.new.describe()}",
             headline(diff)]
    for group in diff.counts():
        changes: tuple[RuleChange, ...] = getattr(diff, group)
        if not changes:
            continue
        title = TITLES[group]
        if group == "slower":
            title += f" (x{diff.thresholds.factor:g} and +{diff.thresholds.floor_s:g} s at least)"
        lines += ["", f"{title} ({len(changes)})"]
        for change in changes:
            lines.append(_rule_line(group, change))
            lines += [item_line(group, item) for item in change.items]
    if diff.only_in_old or diff.only_in_new:
        lines.append("")
    if diff.only_in_old:
        lines.append(f"Results only in OLD, not compared ({len(diff.only_in_old)}): {_ids(diff.only_in_old)}")
    if diff.only_in_new:
        lines.append(f"Results only in NEW, not compared ({len(diff.only_in_new)}): {_ids(diff.only_in_new)}")
    return "\n".join(lines) + "\n"


def summary(diff: Diff) -> str:
    """One line for the console of `run --baseline`."""
    return f"baseline {diff.old.run_id}: {headline(diff)}"
