"""Where the reference keeps its state and finds helm, as told by its environment.

The harness tells the server where things are (NVCF_RUN_DIR, NVCF_HELM); the defaults suit a run
from a checkout where `make tools` linked the pinned helm into bin/.
"""

from __future__ import annotations

import os
from pathlib import Path

from reference.errors import ReferenceFailure

_CHECKOUT = Path(__file__).resolve().parent.parent


def state_dir() -> Path:
    """The folder of the server's database and tokens file: `<NVCF_RUN_DIR>/reference` (default `.run/`)."""
    return Path(os.environ.get("NVCF_RUN_DIR") or _CHECKOUT / ".run").resolve() / "reference"


def helm() -> Path:
    """The helm binary: NVCF_HELM when set, else the pinned one linked into the checkout's bin/.

    PATH is not searched: an unpinned helm would render charts differently from the one the
    harness's results were recorded with.
    """
    configured = os.environ.get("NVCF_HELM")
    candidate = Path(configured) if configured else Path(
        os.environ.get("NVCF_BIN_DIR") or (Path(os.environ.get("NVCF_HOME") or _CHECKOUT) / "bin")) / "helm"
    if candidate.is_file():
        return candidate
    raise ReferenceFailure(f"no helm at {candidate}: run `make tools`, or point NVCF_HELM at a helm binary")
