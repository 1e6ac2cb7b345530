"""The embedded environment's state file: what `env up` started and how to reach it.

It holds credentials, so it is written 0600 and only `env status --json` prints them (for tools and
CI that need to log in); the human `env status` never does.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from conformance.env.registry import RegistryEndpoint
from conformance.errors import ConformanceError
from conformance.paths import run_dir


def state_file() -> Path:
    return run_dir() / "env" / "state.json"


def save(state: dict[str, Any]) -> Path:
    path = state_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(state, out, indent=2)
    tmp.replace(path)
    return path


def load() -> dict[str, Any] | None:
    path = state_file()
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConformanceError(f"{path}: unreadable environment state ({exc}); remove it and retry") from None
    if not isinstance(data, dict):
        raise ConformanceError(f"{path}: unreadable environment state; remove it and retry")
    return data


def clear() -> None:
    state_file().unlink(missing_ok=True)


def load_status() -> dict[str, Any]:
    """The state of a running environment, or a one-line error saying how to start one."""
    data = load()
    if data is None:
        raise ConformanceError("no embedded environment is running: start one with `nvcf-conformance env up`")
    return data


def registry_endpoint(data: dict[str, Any] | None = None) -> RegistryEndpoint:
    reg = (data or load_status())["registry"]
    return RegistryEndpoint(reg["address"], reg["username"], reg["password"])
