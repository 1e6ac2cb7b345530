"""`env up` / `env down` / `env status`: start, stop and report the embedded environment as one unit."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conformance.env import process, state
from conformance.env.cluster import KwokCluster
from conformance.env.config import EnvConfig
from conformance.env.local_registry import LocalRegistry
from conformance.env.reference_server import ReferenceServer
from conformance.errors import ConformanceError
from conformance.paths import run_dir

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def up(cfg: EnvConfig, progress: Progress = _quiet) -> dict[str, Any]:
    """Start registry, cluster and reference server, wait until each is healthy, write the state file.

    Anything started before a failure is stopped again, so a failed `up` leaves nothing running.
    """
    existing = state.load()
    if existing is not None:
        recorded = existing.get("processes", [])
        dead = sorted({p["name"] for p in recorded} - set(_running(recorded)))
        if not dead:
            progress("environment already up")
            return existing
        progress(f"stale environment (stopped: {', '.join(dead)}); cleaning up first")
        down(progress)

    home = run_dir()
    home.mkdir(parents=True, exist_ok=True)
    registry = LocalRegistry(home / "registry", cfg.registry_username, cfg.registry_port)
    cluster = KwokCluster(home / "cluster", cfg)
    timings: dict[str, float] = {}
    current: dict[str, Any] = {"version": 1, "run_dir": str(home), "processes": [], "nvcf": None}
    try:
        t0 = time.monotonic()
        progress("starting OCI registry")
        endpoint = _component("registry", registry.log, lambda: registry.start(timeout=cfg.start_timeout))
        assert registry.record is not None
        current["registry"] = {"address": endpoint.address, "username": endpoint.username,
                               "password": endpoint.password, "log": str(registry.log)}
        current["processes"].append(registry.record.to_dict())
        state.save(current)
        timings["registry"] = round(time.monotonic() - t0, 2)

        t0 = time.monotonic()
        progress("starting KWOK cluster (etcd, kube-apiserver, controller-manager, scheduler, kwok)")
        current["cluster"] = {"name": cluster.name, "home": str(cluster.home), "log": str(cluster.log)}
        state.save(current)
        _component("cluster", cluster.log, cluster.create)
        current["kubeconfig"] = str(cluster.kubeconfig)
        current["processes"].extend(r.to_dict() for r in cluster.pids())
        current["nodes"] = [
            {"group": g.name, "count": g.count, "gpus": g.gpus, "gpuProduct": g.gpu_product} for g in cfg.nodes
        ]
        timings["cluster"] = round(time.monotonic() - t0, 2)
        state.save(current)

        if cfg.reference:
            t0 = time.monotonic()
            progress("starting the reference NVCF server")
            server = ReferenceServer(home / "reference", cluster.kubeconfig, endpoint, cfg.reference_args)
            start_reference(server, current, cfg.start_timeout)
            timings["reference"] = round(time.monotonic() - t0, 2)
        current["timings"] = timings
        state.save(current)
    except BaseException:
        progress("start failed; stopping what was started")
        down(_quiet)
        raise
    return current


def start_reference(server: ReferenceServer, current: dict[str, Any], timeout: float) -> None:
    """Start the reference into `current` (its endpoint under `nvcf`); its process is recorded, and the
    state saved, even when the start fails, so `env down` stops it either way."""
    try:
        current["nvcf"] = _component("reference NVCF server", server.log, lambda: server.start(timeout))
    finally:
        if server.record is not None:
            current["processes"].append(server.record.to_dict())
            state.save(current)


def _running(recorded: list[dict[str, Any]]) -> list[str]:
    """Names of the recorded processes that still run."""
    return [p["name"] for p in recorded if process.is_ours(process.ProcessRecord.from_dict(p))]


def _component(name: str, log: Path, start: Callable[[], Any]) -> Any:
    try:
        return start()
    except ConformanceError as exc:
        raise ConformanceError(f"{name} failed: {exc}") from None
    except Exception as exc:  # an unexpected failure still names the component and its log
        raise ConformanceError(f"{name} failed: {type(exc).__name__}: {exc}; log {log}") from None


def down(progress: Progress = _quiet) -> list[str]:
    """Stop exactly what `up` recorded, by pid; return the names of what was stopped."""
    current = state.load()
    if current is None:
        progress("no environment is running")
        return []
    stopped: list[str] = []
    cluster_info = current.get("cluster")
    if cluster_info:
        progress("deleting KWOK cluster")
        home = Path(cluster_info["home"])
        cluster = KwokCluster(home, EnvConfig(cluster_name=cluster_info["name"]))
        try:
            cluster.delete()
        except ConformanceError as exc:
            progress(f"kwokctl delete failed ({exc}); stopping its processes by pid")
    for raw in reversed(current.get("processes", [])):
        record = process.ProcessRecord.from_dict(raw)
        if process.is_ours(record):
            progress(f"stopping {record.name} (pid {record.pid})")
            process.stop(record)
        stopped.append(record.name)
    leftover = _running(current.get("processes", []))
    if leftover:
        raise ConformanceError(f"could not stop: {', '.join(leftover)}; state kept in {state.state_file()}")
    if cluster_info:
        shutil.rmtree(Path(cluster_info["home"]) / "kwok", ignore_errors=True)
    state.clear()
    return stopped


def status() -> dict[str, Any]:
    """The state plus, per recorded process, whether it still runs."""
    current = state.load()
    if current is None:
        return {"running": False, "registry": None, "kubeconfig": None, "nvcf": None, "processes": []}
    procs = []
    for raw in current.get("processes", []):
        record = process.ProcessRecord.from_dict(raw)
        procs.append({**raw, "alive": process.is_ours(record)})
    return {**current, "processes": procs, "running": bool(procs) and all(p["alive"] for p in procs)}
