"""What the container sees: pod identity, env, mounted values, process facts.

This is the evidence a conformance test inspects to decide whether an NVCF
implementation rendered and delivered the chart the way it should.
"""

from __future__ import annotations

import os
import re
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

REDACTED = "***"
# Names that usually carry credentials; their values must never leave the pod through /probe.
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL", re.IGNORECASE)
# Values files are small by design; cap the read so a misconfigured mount cannot stall a request.
_MAX_VALUES_FILE_BYTES = 1 << 20


def pod_identity(env: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """Pod facts injected through the downward API (env.valueFrom.fieldRef)."""
    source = os.environ if env is None else env
    return {
        "name": source.get("POD_NAME"),
        "namespace": source.get("POD_NAMESPACE"),
        "node": source.get("NODE_NAME"),
        "ip": source.get("POD_IP"),
    }


def is_secret_name(name: str) -> bool:
    return _SECRET_NAME.search(name) is not None


def redacted_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    source = os.environ if env is None else env
    return {name: (REDACTED if is_secret_name(name) else value) for name, value in sorted(source.items())}


def _parse_values_text(text: str) -> Any:
    try:
        # JSON is a subset of YAML, so one parser covers both file kinds a chart may mount.
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def read_values(values_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Each regular file in `values_dir` by name, parsed as YAML/JSON where possible, else text."""
    root = Path(values_dir)
    if not root.is_dir():
        return {}
    values: dict[str, Any] = {}
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        # ConfigMap volumes hold `..data` and `..<timestamp>` bookkeeping entries beside the real files.
        if entry.name.startswith(".."):
            continue
        try:
            if not entry.is_file():
                continue
            with entry.open("rb") as handle:
                raw = handle.read(_MAX_VALUES_FILE_BYTES + 1)
        except OSError as exc:
            values[entry.name] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        truncated = len(raw) > _MAX_VALUES_FILE_BYTES
        text = raw[:_MAX_VALUES_FILE_BYTES].decode("utf-8", errors="replace")
        values[entry.name] = text if truncated else _parse_values_text(text)
    return values


def process_facts() -> dict[str, Any]:
    """Facts a chart's securityContext or command/args would change."""
    return {
        "args": sys.argv[1:],
        "uid": os.getuid(),
        "gid": os.getgid(),
        "pid": os.getpid(),
        "hostname": socket.gethostname(),
        "cwd": os.getcwd(),
    }
