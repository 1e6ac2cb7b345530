"""The one embedded environment every mutant shares: the running one, or one started for this run.

Only the registry and the cluster are shared. Each mutant brings its own reference server, so the
environment's own server (if any) is never touched, and a started environment runs none.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.env import manager, state
from conformance.env.config import EnvConfig
from conformance.env.registry import RegistryEndpoint
from conformance.errors import ConformanceError

CLUSTER_NAME = "nvcf-mutation"


@dataclass(frozen=True)
class SharedEnv:
    registry: RegistryEndpoint
    kubeconfig: Path
    nodes: tuple[dict[str, Any], ...]
    started: bool  # True when this run started it (and stops it)
    run_dir: str

    def alive(self) -> bool:
        """False once someone else's `env down` took the shared cluster away mid-run."""
        return self.kubeconfig.is_file()


def _shared(data: dict[str, Any], started: bool) -> SharedEnv:
    if not data.get("kubeconfig") or not data.get("registry"):
        raise ConformanceError("the embedded environment has no cluster or registry (see `env status`)")
    return SharedEnv(state.registry_endpoint(data), Path(data["kubeconfig"]), tuple(data.get("nodes") or ()),
                     started, str(data.get("run_dir", "")))


@contextlib.contextmanager
def _run_dir(path: Path) -> Iterator[None]:
    old = os.environ.get("NVCF_RUN_DIR")
    os.environ["NVCF_RUN_DIR"] = str(path)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("NVCF_RUN_DIR", None)
        else:
            os.environ["NVCF_RUN_DIR"] = old


@contextlib.contextmanager
def shared_environment(own_home: Path, progress: Callable[[str], None], *, reuse: bool = True
                       ) -> Iterator[SharedEnv]:
    """Reuse the environment of the current run dir when it runs (and `reuse`); else start one under
    `own_home`. Someone else's environment can be stopped under us: `--own-env` avoids that."""
    current = manager.status() if reuse else {}
    if current.get("running") and current.get("kubeconfig"):
        progress(f"reusing the embedded environment of {current.get('run_dir')}")
        yield _shared(current, started=False)
        return
    own_home.mkdir(parents=True, exist_ok=True)
    with _run_dir(own_home):
        progress(f"starting an embedded environment (registry + KWOK) in {own_home}")
        data = manager.up(EnvConfig(cluster_name=CLUSTER_NAME, reference=False), progress)
        try:
            yield _shared(data, started=True)
        finally:
            progress("stopping the environment this run started")
            manager.down()
