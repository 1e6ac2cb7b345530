"""A stand-in for docker, kind, kubectl and python that lets the kind-config scripts run offline.

The scripts cannot reach a Docker engine or a cluster on CI machines, so the tests link this file
under each tool's name and point the scripts at it. Every call is appended to `$FAKE_LOG` (JSON
lines: tool, argv, stdin when read) and answered the way the real tool would answer the scripts'
questions. `$FAKE_STATE` (a JSON file) carries what a later call must see, e.g. patched GPU counts.
Knobs: FAKE_NO_ENGINE=1 (docker info fails), FAKE_NODES (space separated kind node names),
FAKE_GPU_LISTING (what `kubectl get nodes -l nvidia.com/gpu.count` prints), FAKE_IGNORE_PATCH=1.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any


def _state() -> dict[str, Any]:
    path = Path(os.environ["FAKE_STATE"])
    return json.loads(path.read_text()) if path.exists() else {}


def _save(state: dict[str, Any]) -> None:
    Path(os.environ["FAKE_STATE"]).write_text(json.dumps(state))


def _log(tool: str, argv: list[str], stdin: str | None = None) -> None:
    with open(os.environ["FAKE_LOG"], "a") as handle:
        handle.write(json.dumps({"tool": tool, "argv": argv, "stdin": stdin}) + "\n")


def _flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def docker(argv: list[str]) -> int:
    stdin = sys.stdin.read() if argv[:2] == ["exec", "-i"] else None
    _log("docker", argv, stdin)
    if argv[:1] == ["info"]:
        return 1 if os.environ.get("FAKE_NO_ENGINE") else 0
    if argv[:1] == ["inspect"]:
        print("null")
    return 0


def kind(argv: list[str]) -> int:
    _log("kind", argv)
    if argv[:2] == ["get", "clusters"]:
        print(os.environ.get("FAKE_CLUSTERS", ""))
    elif argv[:2] == ["get", "nodes"]:
        print("\n".join(os.environ.get("FAKE_NODES", "").split()))
    elif argv[:2] == ["create", "cluster"]:
        Path(_flag(argv, "--kubeconfig")).write_text("apiVersion: v1\nkind: Config\n")
    return 0


def kubectl(argv: list[str]) -> int:
    stdin = sys.stdin.read() if argv[-2:] == ["-f", "-"] else None
    _log("kubectl", argv, stdin)
    args = argv[2:] if argv[:1] == ["--kubeconfig"] else argv
    state = _state()
    if args[:3] == ["get", "nodes", "-l"]:
        sys.stdout.write(os.environ.get("FAKE_GPU_LISTING", ""))
    elif args[:2] == ["patch", "node"] and not os.environ.get("FAKE_IGNORE_PATCH"):
        ops = json.loads(_flag(args, "-p"))
        state.setdefault("allocatable", {})[args[2]] = next(
            op["value"] for op in ops if op["path"] == "/status/allocatable/nvidia.com~1gpu"
        )
        _save(state)
    elif args[:2] == ["get", "node"]:
        print(state.get("allocatable", {}).get(args[2], ""), end="")
    return 0


def python(argv: list[str]) -> int:
    _log("python", argv)
    if argv[:3] == ["-m", "conformance.env.docker_registry", "start"]:
        Path(_flag(argv, "--state")).write_text(json.dumps({"container_id": "f" * 64}))
        port = _flag(argv, "--port")
        print(json.dumps({"address": f"127.0.0.1:{port}", "username": "conformance", "password": "pw"}))
    elif argv[:3] == ["-m", "conformance.env.docker_registry", "stop"]:
        Path(_flag(argv, "--state")).unlink()
    return 0


TOOLS = {"docker": docker, "kind": kind, "kubectl": kubectl, "python": python}

if __name__ == "__main__":
    sys.exit(TOOLS[Path(sys.argv[0]).name](sys.argv[1:]))
