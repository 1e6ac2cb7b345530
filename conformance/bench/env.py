"""`make bench-env`: tool build (warm always, cold with BENCH_COLD=1), env up to healthy, env down, memory.

Cold means an empty tool cache and an empty Go build cache (the module download cache is kept: the
proxy is not what we measure). It takes about ten minutes on two cores, so it is opt-in.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from conformance.bench.common import report, timed
from conformance.env import manager
from conformance.env.config import EnvConfig
from conformance.paths import ROOT


def _tools(extra_env: dict[str, str]) -> None:
    subprocess.run(["bash", str(ROOT / "tools" / "build.sh")], env={**os.environ, **extra_env}, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _peak_rss_mib(pids: list[int]) -> float:
    """Sum of each process's high-water resident set (VmHWM): an upper bound of the peak together."""
    total_kib = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total_kib += int(line.split()[1])
        except OSError:
            continue
    return round(total_kib / 1024, 1)


def main() -> int:
    figures: dict[str, Any] = {}
    if os.environ.get("BENCH_COLD") == "1":
        with (
            tempfile.TemporaryDirectory() as cache,
            tempfile.TemporaryDirectory() as gocache,
            tempfile.TemporaryDirectory() as bindir,
            timed(figures, "tools_cold_s"),
        ):
            _tools({"NVCF_TOOLS_CACHE": cache, "GOCACHE": gocache, "NVCF_BIN_DIR": bindir})
    with timed(figures, "tools_warm_s"):
        _tools({})
    with tempfile.TemporaryDirectory() as run:
        os.environ["NVCF_RUN_DIR"] = run
        with timed(figures, "env_up_s"):
            current = manager.up(EnvConfig(cluster_name="nvcf-bench"))
        time.sleep(5)  # let the control plane settle so the memory figure is not only start-up
        figures["env_peak_rss_mib"] = _peak_rss_mib([int(p["pid"]) for p in current["processes"]])
        with timed(figures, "env_down_s"):
            manager.down()
    return report("env", figures, {
        "env up <= 60 s with tools cached": lambda f: f["env_up_s"] <= 60,
        "environment resident memory <= 3 GiB": lambda f: f["env_peak_rss_mib"] <= 3072,
    })


if __name__ == "__main__":
    sys.exit(main())
