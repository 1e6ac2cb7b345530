"""The mutant of each rule: the catalog's MUST/EXT (and SHOULD) rules joined with `mutants.yaml`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from conformance.catalog.load import Catalog, Rule
from conformance.errors import ConfigError

MAPPING_FILE = Path(__file__).with_name("mutants.yaml")
_ENTRY_KEYS = {"violate", "args", "pending", "no-mutant", "note"}


@dataclass(frozen=True)
class Mutant:
    """How to break one rule. `violate` is empty when there is no mutant (see `pending`/`no_mutant`)."""

    rule: str
    level: str
    profiles: tuple[str, ...]
    violate: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    pending: str | None = None
    no_mutant: str | None = None
    note: str | None = None

    @property
    def runnable(self) -> bool:
        return bool(self.violate)

    @property
    def label(self) -> str:
        return ",".join(self.violate) if self.violate else "-"


@dataclass(frozen=True)
class Mapping:
    smoke: tuple[str, ...]
    entries: dict[str, dict[str, Any]]


def load_mapping(path: Path = MAPPING_FILE) -> Mapping:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: unreadable mutant mapping ({exc})") from None
    entries = data.get("rules") or {}
    if not isinstance(entries, dict):
        raise ConfigError(f"{path}: 'rules' must map rule ids to entries")
    for rule, entry in entries.items():
        if not isinstance(entry, dict) or not entry.keys() <= _ENTRY_KEYS:
            raise ConfigError(f"{path}: {rule}: an entry is a mapping of {', '.join(sorted(_ENTRY_KEYS))}")
        if sum(k in entry for k in ("violate", "pending", "no-mutant")) > 1:
            raise ConfigError(f"{path}: {rule}: give one of violate, pending, no-mutant")
        for key in ("pending", "no-mutant"):
            if key in entry and not str(entry[key] or "").strip():
                raise ConfigError(f"{path}: {rule}: '{key}' needs a reason")
    return Mapping(tuple(data.get("smoke") or ()), {str(k): v for k, v in entries.items()})


def mutant_for(rule: Rule, mapping: Mapping) -> Mutant:
    entry = mapping.entries.get(rule.id, {})
    no_mutant = entry.get("no-mutant")
    pending = entry.get("pending")
    violate: tuple[str, ...] = ()
    if not (no_mutant or pending):
        violate = tuple(entry.get("violate") or (rule.id,))
    return Mutant(
        rule=rule.id, level=rule.level, profiles=tuple(rule.profiles), violate=violate,
        args=tuple(str(a) for a in entry.get("args") or ()), pending=pending, no_mutant=no_mutant,
        note=entry.get("note"),
    )


def select(catalog: Catalog, mapping: Mapping, *, rules: Iterable[str] = (), should: bool = False) -> list[Mutant]:
    """The mutants of the chosen rules (default: every MUST and EXT rule, plus SHOULD when asked)."""
    wanted = list(rules)
    if wanted:
        unknown = [r for r in wanted if r not in {x.id for x in catalog.rules}]
        if unknown:
            raise ConfigError(f"--rule: not in the catalog: {', '.join(unknown)}")
        chosen = [r for r in catalog.rules if r.id in wanted]
    else:
        levels = {"MUST", "EXT", *(("SHOULD",) if should else ())}
        chosen = [r for r in catalog.rules if r.level in levels]
    return [mutant_for(r, mapping) for r in chosen]


def smoke_rules(mutant: Mutant, mapping: Mapping) -> tuple[str, ...]:
    """Rules that should still pass next to this mutant: the smoke set minus what it deliberately breaks."""
    broken = {mutant.rule, *mutant.violate}
    return tuple(r for r in mapping.smoke if r not in broken)
