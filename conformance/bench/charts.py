"""`make bench-charts`: cold and warm build+push of every sample chart to a fresh local registry.

Cold: an empty chart store and an empty registry. Warm: the same run id again, so every chart is a
cache hit (nothing rebuilt, nothing re-pushed; each push record is still checked against the registry).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from conformance.bench.common import report, timed
from conformance.charts import cases as chart_cases
from conformance.charts.pipeline import build
from conformance.charts.push import push
from conformance.env.local_registry import LocalRegistry


def _build_and_push(all_cases: list[Any], out: Path, registry: LocalRegistry) -> tuple[int, int]:
    built = build(all_cases, "bench", out)
    pushed = push(built.charts, registry.endpoint, out, repository="nvcf-conformance/bench")
    return built.built, sum(not p.cached for p in pushed)


def main() -> int:
    all_cases = list(chart_cases.load_cases(None))
    figures: dict[str, Any] = {"charts": len(all_cases)}
    with tempfile.TemporaryDirectory() as tmp:
        registry = LocalRegistry(Path(tmp) / "registry")
        registry.start()
        try:
            out = Path(tmp) / "charts"
            with timed(figures, "cold_build_push_s"):
                figures["cold_built"], figures["cold_pushed"] = _build_and_push(all_cases, out, registry)
            with timed(figures, "warm_build_push_s"):
                figures["warm_built"], figures["warm_pushed"] = _build_and_push(all_cases, out, registry)
        finally:
            registry.stop()
    return report("charts", figures, {
        "cold build+push <= 60 s": lambda f: f["cold_build_push_s"] <= 60,
        "warm build+push <= 3 s": lambda f: f["warm_build_push_s"] <= 3,
        "warm run rebuilds and re-pushes nothing": lambda f: f["warm_built"] == 0 and f["warm_pushed"] == 0,
    })


if __name__ == "__main__":
    sys.exit(main())
