"""`results/reruns.json`: which items each rerun attempt of `run --rerun-failures N` reran, and how it ended.

    {"requested": 2,
     "attempts": [{"attempt": 2, "folder": "attempt-2", "nodeids": ["suites/…::test_x[a]"],
                   "problem": null, "interrupted": false}]}

Written by `run` after every attempt (so an interrupted run still says what it had done), read by the
report (attempts.py). `nodeids` are result nodeids, as the results files name items; an attempt's
folder is a results folder of its own under the run's, written by the plugin exactly like the first.
Keeping the plan apart from the results tells "this attempt did not rerun the item" from "the item was
rerun and reported nothing".
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from conformance.report.model import ATTEMPT_DIR, RERUNS_FILE


@dataclass(frozen=True)
class RerunAttempt:
    attempt: int  # 2, 3, …: attempt 1 is the run itself
    folder: str  # relative to the run's results folder
    nodeids: tuple[str, ...]  # the result nodeids this attempt reran
    problem: str | None = None  # why pytest's exit leaves this attempt's results short, if it does
    interrupted: bool = False  # Ctrl-C or a signal stopped it (no later attempt was made)


@dataclass(frozen=True)
class Reruns:
    requested: int  # N of --rerun-failures N: the most reruns any item gets
    attempts: tuple[RerunAttempt, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"requested": self.requested, "attempts": [asdict(a) | {"nodeids": list(a.nodeids)}
                                                          for a in self.attempts]}

    @property
    def interrupted(self) -> bool:
        return any(a.interrupted for a in self.attempts)


class RerunsUnreadable(Exception):
    """reruns.json exists but is not what `run` writes. `str()` is the one-line reason."""


def attempt_folder(number: int) -> str:
    return ATTEMPT_DIR.format(n=number)


def write(results_dir: Path, reruns: Reruns) -> None:
    path = results_dir / RERUNS_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(reruns.to_dict(), indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


def _attempt(data: Any) -> RerunAttempt:
    if not isinstance(data, dict):
        raise TypeError("an attempt is not an object")
    number, folder, nodeids = data.get("attempt"), data.get("folder"), data.get("nodeids")
    if not isinstance(number, int) or number < 2:
        raise ValueError(f"attempt number {number!r}")
    if folder != attempt_folder(number):
        # Only the folder `run` names: a crafted path must not make the report read files elsewhere.
        raise ValueError(f"attempt {number} names folder {folder!r}")
    if not isinstance(nodeids, list) or not all(isinstance(n, str) for n in nodeids):
        raise ValueError(f"attempt {number}: nodeids is not a list of strings")
    problem = data.get("problem")
    return RerunAttempt(number, folder, tuple(nodeids), str(problem) if problem else None,
                        bool(data.get("interrupted")))


def read(results_dir: Path) -> Reruns | None:
    """The plan, or None when the run made no reruns; raises RerunsUnreadable."""
    path = results_dir / RERUNS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise RerunsUnreadable(f"{RERUNS_FILE} is unreadable ({exc})") from None
    try:
        if not isinstance(data, dict) or not isinstance(data.get("requested"), int):
            raise ValueError("not {requested, attempts}")
        attempts = tuple(_attempt(a) for a in data.get("attempts") or ())
    except (TypeError, ValueError) as exc:
        raise RerunsUnreadable(f"{RERUNS_FILE} is not what `run` writes ({exc})") from None
    return Reruns(data["requested"], attempts)
