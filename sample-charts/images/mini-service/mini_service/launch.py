"""Helpers for processes that start the probe outside a container.

The reference NVCF server runs the probe as a local process on a KWOK fake
cluster; it imports this module (with PACKAGE_DIR on sys.path) rather than
hard-coding the module name and the ready-line format.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

# The folder that must be on PYTHONPATH for `python -m mini_service` to work.
PACKAGE_DIR: Path = Path(__file__).resolve().parent.parent

# The one line the probe prints on stdout once both listeners are bound.
READY_PREFIX = "mini-service ready"
_READY_RE = re.compile(r"^mini-service ready http=(?P<http>\d+|off) grpc=(?P<grpc>\d+|off)\s*$")


def command(python: str | None = None) -> list[str]:
    """The argv that runs the probe; append flags such as `--http-port` to it."""
    return [python or sys.executable, "-m", "mini_service"]


def environment(
    extra: Mapping[str, str] | None = None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """`base` (default: os.environ) plus `extra`, with PACKAGE_DIR first on PYTHONPATH."""
    env = dict(os.environ if base is None else base)
    env.update(extra or {})
    previous = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = str(PACKAGE_DIR) + (os.pathsep + previous if previous else "")
    return env


def parse_ready_line(line: str) -> tuple[int | None, int | None] | None:
    """(http_port, grpc_port) from a ready line (None for a disabled one); None if it is not one."""
    match = _READY_RE.match(line.strip())
    if match is None:
        return None

    def port(value: str) -> int | None:
        return None if value == "off" else int(value)

    return port(match["http"]), port(match["grpc"])
