"""`make bench`'s main figure: wall time per phase of `make conformance` (its profiles, `-n auto`).

Phases: env up (a fresh environment in a temporary run folder), charts (build + push of every case),
suites (`nvcf-conformance run` on every profile the reference claims, as `make conformance` runs them)
and report (rebuilding the report from the results alone). Goals on 2 cores, tools cached: the suites
within 60 s and the whole job within 90 s, with every rule conformant on the reference.
`BENCH_WORKERS="1 auto"` adds other worker counts for comparison.
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

WORKERS = tuple(dict.fromkeys([*os.environ.get("BENCH_WORKERS", "").split(), "auto"]))


# The profiles `make conformance` claims for the embedded reference (scripts/conformance.sh).
PROFILES = ("--profile", "grpc", "--profile", "multinode", "--profile", "ext", "--profile", "security-current")


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
    with timed(figures, f"suites_n{workers}_s"):
        run = _cli("run", "--run-id", run_id, "--report-dir", str(out), "-n", workers, *PROFILES)
    figures[f"suites_n{workers}_exit"] = run.returncode
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
            for workers in WORKERS:
                _phases(figures, workers, reports)
        finally:
            manager.down()
    for workers in WORKERS:
        figures[f"total_n{workers}_s"] = round(
            figures["env_up_s"] + figures[f"charts_n{workers}_s"] + figures[f"suites_n{workers}_s"]
            + figures[f"report_n{workers}_s"], 1)
    return report("run", figures, {
        "suites <= 60 s (-n auto, tools cached)": lambda f: f["suites_nauto_s"] <= 60,
        "make conformance <= 90 s end to end (-n auto, tools cached)": lambda f: f["total_nauto_s"] <= 90,
        "suites conformant on the reference": lambda f: all(f[f"suites_n{w}_exit"] == 0 for w in WORKERS),
    })


if __name__ == "__main__":
    sys.exit(main())
