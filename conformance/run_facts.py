"""The facts of one run, each made in one place: its id, what it selected, and how to rerun one item.

The plugin writes them into run-meta.json when the run starts; the report, the repro bundles and the
rerun of failures read them back from there instead of re-deriving them from a command line.
"""

from __future__ import annotations

import secrets
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

PROGRAM = "nvcf-conformance"
# Profiles a rerun does not name: `core` is always claimed, `white-box` follows from a kubeconfig.
_IMPLIED_PROFILES = frozenset({"core", "white-box"})


def new_run_id() -> str:
    """Sortable by start time, unique enough for parallel runs on one backend, a valid DNS label."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def split_values(values: Iterable[str] | None) -> tuple[str, ...]:
    """`--rule A,B --rule C` → (A, B, C)."""
    return tuple(item.strip() for value in values or () for item in value.split(",") if item.strip())


@dataclass(frozen=True)
class Selection:
    """What a run was limited to (`--rule`, `--case`); empty means the full catalog."""

    rules: tuple[str, ...] = ()
    cases: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.rules or self.cases)

    def to_json(self) -> dict[str, list[str]]:
        return {"rules": list(self.rules), "cases": list(self.cases)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Selection:
        data = data if isinstance(data, Mapping) else {}
        return cls(tuple(str(r) for r in data.get("rules") or ()), tuple(str(c) for c in data.get("cases") or ()))


def rerun_argv(rule_id: str, case: str | None, profiles: Iterable[str], target_config: str | None,
               settings: Iterable[str] = ()) -> list[str]:
    """`nvcf-conformance` arguments that rerun one rule (and case) with the run's profiles and target.

    `--target-config` comes last, so a script can put its own in its place.
    """
    argv = ["run"]
    for profile in sorted(set(profiles) - _IMPLIED_PROFILES):
        argv += ["--profile", profile]
    argv += ["--rule", rule_id]
    if case:
        argv += ["--case", case]
    for setting in settings:
        argv += ["--set", setting]
    if target_config:
        argv += ["--target-config", target_config]
    return argv


def command_line(argv: Iterable[str]) -> str:
    """The shell command for `nvcf-conformance` arguments, quoted so it can be pasted as it is."""
    return shlex.join([PROGRAM, *argv])
