"""`python -m reference.bench CHART_DIR`: the reference's render+validate against `helm template` alone.

It prints one JSON object of medians. The harness's `make bench-reference` materialises the 300-object
sample chart and runs this as a process, so neither package imports the other.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reference.charts.helm import helm_binary
from reference.charts.render import render_chart
from reference.charts.validate import validate


def _median(fn: Callable[[], Any], repeat: int) -> float:
    """Seconds of one call, the median of `repeat` (timeit's clock, garbage collection paused meanwhile)."""
    return statistics.median(timeit.repeat(fn, number=1, repeat=repeat))


def render_figures(chart_dir: Path, service_name: str, inference_port: int, repeat: int) -> dict[str, float]:
    helm = str(helm_binary())
    with tempfile.TemporaryDirectory() as tmp:

        def helm_only() -> None:
            subprocess.run([helm, "template", "mini-service", str(chart_dir), "--include-crds"], check=True,
                           capture_output=True)

        def reference() -> None:
            rendered = render_chart(chart_dir, release="mini-service", namespace="mini-service", values={},
                                    workdir=Path(tmp) / "work")
            found = validate(rendered, service_name=service_name, inference_port=inference_port)
            if found:
                raise SystemExit(f"the benchmark chart breaks a rule: {found}")

        helm_s, reference_s = _median(helm_only, repeat), _median(reference, repeat)
    return {"helm_template_300_s": round(helm_s, 3), "render_validate_300_s": round(reference_s, 3),
            "render_validate_vs_helm": round(reference_s / helm_s, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reference.bench", description=__doc__.splitlines()[0])
    parser.add_argument("chart_dir", type=Path)
    parser.add_argument("--service-name", required=True, help="the function's helmChartServiceName")
    parser.add_argument("--inference-port", type=int, required=True)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    print(json.dumps(render_figures(args.chart_dir, args.service_name, args.inference_port, args.repeat)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
