"""Where the project keeps things: repository folders, the pinned-tool links, run state."""

from __future__ import annotations

import os
from pathlib import Path

from conformance.errors import ConformanceError

# The project checkout (sample-charts/, tools/, bin/). An installed copy (e.g. the harness image) points
# NVCF_HOME at the folder that holds them, since site-packages does not.
ROOT = Path(os.environ.get("NVCF_HOME") or Path(__file__).resolve().parent.parent)
BIN_DIR = Path(os.environ.get("NVCF_BIN_DIR", ROOT / "bin"))
SAMPLE_CHARTS = ROOT / "sample-charts"
REPORTS = ROOT / "reports"


def run_dir() -> Path:
    """The folder of the embedded environment's state, logs and data (`NVCF_RUN_DIR`, default `.run/`)."""
    return Path(os.environ.get("NVCF_RUN_DIR", ROOT / ".run")).resolve()


def tool(name: str) -> Path:
    """The pinned binary `name` as linked into bin/ by `make tools`.

    PATH is not searched here: tools/build.sh already links a PATH binary when it has the pinned
    version, and an unpinned one (say an old kubectl) would give results nobody can reproduce.
    """
    candidate = BIN_DIR / name
    if candidate.exists():
        return candidate
    raise ConformanceError(f"the tool '{name}' is missing: run `make tools` to build the pinned toolchain")
