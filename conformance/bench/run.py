"""`make bench`'s main figure: wall time per phase of `make conformance`, with `-n 1` and `-n auto`.

Phases: env up (a fresh environment in a temporary run folder), charts (build + push of every case),
suites (`nvcf-conformance run` on the core profile) and report (rebuilding the report from the results
alone). Goal on 2 cores: the whole core profile within 5 minutes once the tools are cached.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from conformance.bench.common import report, timed
from conformance.env import manager
from conformance.env.config import EnvConfig
from conformance.paths import REPORTS


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "conformance.cli", *args], capture_output=True, text=True,
                          check=False, env=os.environ.copy())


def _phases(figures: dict[str, Any], workers: str, reports: Path) -> None:
    """Charts, suites and report of one run, as `make conformance` does them: the run pushes its own
    charts (the run id is stamped into every chart), then the suites use them from the cache."""
    run_id = f"bench-n{workers}"
    out = reports / f"run-n{workers}"
    shutil.rmtree(out, ignore_errors=True)
    with timed(figures, f"charts_n{workers}_s"):
        charts = _cli("charts", "push", "--run-id", run_id, "--no-twins", "--json")
    figures[f"charts_n{workers}_exit"] = charts.returncode
    with timed(figures, f"suites_core_n{workers}_s"):
        run = _cli("run", "--run-id", run_id, "--report-dir", str(out), "-n", workers)
    figures[f"suites_core_n{workers}_exit"] = run.returncode
    with timed(figures, f"report_n{workers}_s"):
        _cli("report", "build", str(out / "results"), "--out", str(out / "rebuilt"))


def main() -> int:
    figures: dict[str, Any] = {}
    # The suites' reports are kept (reports/bench/run-n1, run-nauto): a figure from a failed run is no figure.
    reports = REPORTS / "bench"
    with tempfile.TemporaryDirectory() as run_dir:
        os.environ["NVCF_RUN_DIR"] = run_dir
        with timed(figures, "env_up_s"):
            manager.up(EnvConfig(cluster_name="nvcf-bench-run"))
        try:
            for workers in ("1", "auto"):
                _phases(figures, workers, reports)
        finally:
            manager.down()
    for workers in ("1", "auto"):
        figures[f"total_core_n{workers}_s"] = round(
            figures["env_up_s"] + figures[f"charts_n{workers}_s"] + figures[f"suites_core_n{workers}_s"]
            + figures[f"report_n{workers}_s"], 1)
    return report("run", figures, {
        "core profile <= 5 min (-n auto, tools cached)": lambda f: f["total_core_nauto_s"] <= 300,
        "suites conformant on the reference": lambda f: f["suites_core_n1_exit"] == f["suites_core_nauto_exit"] == 0,
    })


if __name__ == "__main__":
    sys.exit(main())
