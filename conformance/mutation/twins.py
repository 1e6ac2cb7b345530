"""The chart side's second proof: every refused case needs a "fixed" twin that deploys on the reference.

A refused case alone cannot tell "refused for the documented reason" from "refused for anything"; its
twin, the same chart with only the offence removed, must PASS. Overlays name that pairing with `twinOf`.
"""

from __future__ import annotations

from dataclasses import dataclass

from conformance.charts.cases import load_cases


@dataclass(frozen=True)
class TwinStatus:
    refused: tuple[str, ...]  # cases that break a rule (`violates` set)
    twins: dict[str, str]  # refused case → its twin
    missing: tuple[str, ...]  # refused cases nobody is the twin of


def twin_status() -> TwinStatus:
    cases = load_cases()
    refused = tuple(c.id for c in cases if c.violates)
    twins = {c.twin_of: c.id for c in cases if c.twin_of}
    return TwinStatus(refused, twins, tuple(c for c in refused if c not in twins))
