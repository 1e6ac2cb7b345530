"""Shared by the benchmarks: timing a step and writing the figures where a reviewer finds them."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from conformance.paths import REPORTS


@contextmanager
def timed(results: dict[str, float], name: str) -> Iterator[None]:
    start = time.monotonic()
    try:
        yield
    finally:
        results[name] = round(time.monotonic() - start, 3)


def report(name: str, figures: dict[str, Any], goals: dict[str, Callable[[dict[str, Any]], bool]]) -> int:
    """Print the figures and the goals they meet or miss; write them to reports/bench/<name>.json."""
    verdicts = {goal: bool(check(figures)) for goal, check in goals.items()}
    out = Path(REPORTS) / "bench" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"figures": figures, "goals": verdicts}, indent=2))
    width = max(len(k) for k in figures) if figures else 0
    for key, value in figures.items():
        print(f"  {key:<{width}}  {value}")
    for goal, ok in verdicts.items():
        print(f"  goal {'met   ' if ok else 'MISSED'}  {goal}")
    print(f"  written to {out}")
    return 0
