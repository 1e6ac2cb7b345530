"""One mutant: a `reference serve --violate …` process of its own, and a target config pointing at it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from conformance.env import process
from conformance.env.reference_server import ReferenceServer
from conformance.mutation.environment import SharedEnv
from conformance.target.config import REFERENCE_TUNING


class MutantServer:
    """Own database, tokens, state file and gRPC port; the shared cluster and registry."""

    def __init__(self, home: Path, env: SharedEnv, violate: Sequence[str], args: Sequence[str] = ()) -> None:
        extra = [*(["--violate", ",".join(violate)] if violate else []), *args]
        self.server = ReferenceServer(home, env.kubeconfig, env.registry, extra)
        self.env = env
        self.info: dict[str, Any] | None = None

    def start(self, timeout: float = 90.0) -> dict[str, Any]:
        try:
            self.info = self.server.start(timeout)
        except BaseException:
            self.stop()
            raise
        return self.info

    def stop(self) -> None:
        if self.server.record is not None:
            process.stop(self.server.record)

    @property
    def log(self) -> Path:
        return self.server.log

    def write_target(self, path: Path) -> Path:
        """A complete target config: with an endpoint named, no layer of the embedded env is mixed in."""
        assert self.info is not None, "start() first"
        reg = self.env.registry
        shapes = [{"gpu": n["gpuProduct"], "gpus_per_node": n["gpus"], "nodes": n["count"]}
                  for n in self.env.nodes if n.get("gpus") and n.get("gpuProduct")]
        data: dict[str, Any] = {
            "implementation": {"name": "nvcf-conformance reference (mutant)"},
            "nvcf": {"gateway": self.info["gateway"], "token": self.info["token"],
                     "api_key": self.info["api_key"], "grpc": self.info["grpc"]},
            "registry": {"address": reg.address, "username": reg.username, "password": reg.password},
            "kubeconfig": str(self.env.kubeconfig),
        }
        data.update(REFERENCE_TUNING)  # a reference on KWOK, as the embedded target
        if shapes:
            data["gpu_shapes"] = shapes
            data["deployment.gpu"] = min(shapes, key=lambda s: s["gpus_per_node"])["gpu"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        path.chmod(0o600)  # it holds the mutant's token and the registry password
        return path
