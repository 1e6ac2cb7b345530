"""`env up --cluster kind` / `env down` / `env status` for the kind path: real nodes, real containers.

up: the images (tools/kind-images.sh, cached) → a Docker engine (the one that answers, or a dockerd
started with the nvcf-runc runtime) → a kind cluster of our node image (control plane + GPU workers,
kind-config/<layout>-node.yaml) → the registry container (our Go-built distribution, htpasswd auth)
on kind's network → each node's containerd pointed at it → fake GPU capacity → the mini-service
image pushed to it → the reference NVCF server with the port-forward data plane.

It writes the same state file as the embedded environment (`nvcf-conformance run` and `charts push`
read it unchanged), with `cluster.type: kind` and what `down` must remove: the reference process,
the registry container (by id), the cluster, kind's network when this run created it, and dockerd
when this run started it. A failed `up` removes whatever it had created.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from conformance.charts.naming import PROBE_REPOSITORY, PROBE_TAG
from conformance.env import kind_docker, kind_images, manager, process, state
from conformance.env.config import EnvConfig
from conformance.env.docker_registry import DockerRegistryContainer, remove_container
from conformance.env.kind_cluster import KindCluster, layout_config
from conformance.env.reference_server import ReferenceServer
from conformance.errors import ConformanceError
from conformance.paths import run_dir

Progress = Callable[[str], None]
CLUSTER_TYPE = "kind"
# kind's own variable for the network its nodes join; the registry container joins the same one.
NETWORK = os.environ.get("KIND_EXPERIMENTAL_DOCKER_NETWORK") or "kind"


def _quiet(_: str) -> None:
    pass


def is_kind(current: dict[str, Any] | None) -> bool:
    return bool(current) and (current or {}).get("cluster", {}).get("type") == CLUSTER_TYPE


def gpu_groups(layout: str) -> list[dict[str, Any]]:
    """The GPU node groups of a kind layout, from its node labels (what `gpu_shapes` is made of)."""
    config = yaml.safe_load(layout_config(layout).read_text())
    groups: dict[tuple[str, str, int], int] = {}
    for node in config.get("nodes") or []:
        labels = node.get("labels") or {}
        product = str(labels.get("nvidia.com/gpu.product", ""))
        if not product.startswith("NVIDIA-"):
            continue
        key = (str(labels.get("nvcf-conformance.io/node-group", product.lower())), product[len("NVIDIA-"):],
               int(labels.get("nvidia.com/gpu.count", 0)))
        groups[key] = groups.get(key, 0) + 1
    return [{"group": g, "count": n, "gpus": gpus, "gpuProduct": p} for (g, p, gpus), n in groups.items()]


def _network_exists(host: str) -> bool:
    return kind_docker.run_docker(host, "network", "inspect", NETWORK, check=False).returncode == 0


def up(cfg: EnvConfig, progress: Progress = _quiet, layout: str = "multi") -> dict[str, Any]:
    existing = state.load()
    if existing is not None:
        if not is_kind(existing):
            raise ConformanceError(f"the embedded (KWOK) environment of {run_dir()} is up: take it down first "
                                   "(`nvcf-conformance env down`), or use another NVCF_RUN_DIR")
        if status()["running"]:
            progress("kind environment already up")
            return existing
        progress("stale kind environment; cleaning up first")
        down(progress)

    home = run_dir() / "kind"
    home.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    current: dict[str, Any] = {"version": 1, "run_dir": str(run_dir()), "processes": [], "nvcf": None,
                               "containers": [], "cluster": None}
    try:
        t0 = time.monotonic()
        progress("building (or reusing) the node, registry and mini-service images")
        log = home / "images.log"
        kind_images.build_tools(log)
        images = {name: kind_images.build(name, log) for name in ("node", "registry", "mini-service")}
        current["images"] = {name: {"tag": image.tag, "archive": str(image.path)} for name, image in images.items()}
        timings["images"] = round(time.monotonic() - t0, 2)

        t0 = time.monotonic()
        engine = kind_docker.ensure_engine(home, cfg.start_timeout, progress)
        current["docker"] = {"host": engine.host, "started": engine.record is not None}
        if engine.record is not None:
            current["processes"].append(engine.record.to_dict())
        state.save(current)
        # The Docker SDK (registry container) and kind find the engine through this variable.
        os.environ["DOCKER_HOST"] = engine.host
        for name in ("node", "registry"):
            if kind_images.load(engine.host, images[name]):
                progress(f"loaded the {name} image into the engine")
        timings["engine"] = round(time.monotonic() - t0, 2)

        t0 = time.monotonic()
        cluster = KindCluster(cfg.cluster_name, home, engine.env, layout)
        if cluster.exists():
            raise ConformanceError(f"a kind cluster named {cfg.cluster_name!r} already exists in this engine: "
                                   f"delete it (`kind delete cluster --name {cfg.cluster_name}`) or pick another "
                                   "clusterName")
        current["cluster"] = {"type": CLUSTER_TYPE, "name": cluster.name, "home": str(home), "layout": layout,
                              "log": str(cluster.log), "network": NETWORK,
                              "network_created": not _network_exists(engine.host)}
        state.save(current)
        progress(f"creating kind cluster {cluster.name!r} ({layout}: {cluster.config.name})")
        cluster.create(images["node"].tag, timeout=max(cfg.start_timeout, 300.0))
        current["kubeconfig"] = str(cluster.kubeconfig)
        current["nodes"] = gpu_groups(layout)
        timings["cluster"] = round(time.monotonic() - t0, 2)
        state.save(current)

        t0 = time.monotonic()
        progress("starting the registry container")
        registry_name = f"{cluster.name}-registry"
        registry = DockerRegistryContainer(image=images["registry"].tag, username=cfg.registry_username,
                                           host_port=cfg.registry_port, name=registry_name, network=NETWORK,
                                           pull=False)
        endpoint = registry.start()
        current["containers"].append({"name": registry_name, "id": registry.container_id, "role": "registry"})
        current["registry"] = {"address": endpoint.address, "username": endpoint.username,
                               "password": endpoint.password, "container": registry_name}
        state.save(current)
        cluster.trust_registry(registry_name, endpoint.address)
        cluster.publish_registry(endpoint.address)
        progress("fake GPU capacity on the labelled nodes")
        cluster.fake_gpus()
        timings["registry"] = round(time.monotonic() - t0, 2)

        t0 = time.monotonic()
        progress(f"pushing {PROBE_REPOSITORY}:{PROBE_TAG} to {endpoint.address}")
        digest = kind_images.push(images["mini-service"], endpoint, PROBE_REPOSITORY, PROBE_TAG, progress)
        current["images"]["mini-service"].update(
            {"ref": f"{endpoint.address}/{PROBE_REPOSITORY}:{PROBE_TAG}", "digest": digest})
        timings["mini-service"] = round(time.monotonic() - t0, 2)
        state.save(current)

        if cfg.reference:
            t0 = time.monotonic()
            progress("starting the reference NVCF server (port-forward data plane)")
            server = ReferenceServer(home / "reference", cluster.kubeconfig, endpoint,
                                     ("--data-plane", "port-forward", *cfg.reference_args))
            manager.start_reference(server, current, cfg.start_timeout)
            timings["reference"] = round(time.monotonic() - t0, 2)
        current["timings"] = timings
        state.save(current)
    except BaseException:
        progress("start failed; removing what was created")
        try:
            down(progress)
        except ConformanceError as exc:
            progress(f"cleanup after the failed start failed too: {exc}")
        raise
    return current


def down(progress: Progress = _quiet) -> list[str]:
    """Remove exactly what `up` recorded; return the names of what was removed."""
    current = state.load()
    if current is None:
        progress("no environment is running")
        return []
    removed: list[str] = []
    processes = [process.ProcessRecord.from_dict(p) for p in current.get("processes", [])]
    dockerd = next((p for p in processes if p.name == "dockerd"), None)
    for record in reversed(processes):
        if record is not dockerd and process.is_ours(record):
            progress(f"stopping {record.name} (pid {record.pid})")
            process.stop(record)
            removed.append(record.name)
    docker = current.get("docker") or {}
    host = docker.get("host")
    engine_up = bool(host) and kind_docker.answers(host)
    problems: list[str] = []
    if engine_up:
        # The Docker SDK (remove_container) finds the engine through this variable.
        os.environ["DOCKER_HOST"] = host
        for container in current.get("containers", []):
            progress(f"removing container {container['name']}")
            try:
                remove_container(container["id"])
                removed.append(container["name"])
            except ConformanceError as exc:
                problems.append(str(exc))
        cluster_info = current.get("cluster")
        if cluster_info:
            progress(f"deleting kind cluster {cluster_info['name']!r}")
            cluster = KindCluster(cluster_info["name"], Path(cluster_info["home"]), kind_docker.client_env(host),
                                  cluster_info.get("layout", "multi"))
            try:
                cluster.delete()
                removed.append(f"cluster {cluster_info['name']}")
            except ConformanceError as exc:
                problems.append(str(exc))
            if cluster_info.get("network_created") and _network_exists(host):
                done = kind_docker.run_docker(host, "network", "rm", cluster_info.get("network", NETWORK), check=False)
                if done.returncode == 0:
                    removed.append(f"network {cluster_info.get('network', NETWORK)}")
                else:
                    problems.append(f"docker network rm: {done.stderr.decode(errors='replace').strip()}")
    elif current.get("containers") or current.get("cluster"):
        problems.append(f"no Docker engine answers at {host}: its containers could not be removed")
    if dockerd is not None and process.is_ours(dockerd):
        progress(f"stopping dockerd (pid {dockerd.pid})")
        kind_docker.stop_engine(dockerd)
        removed.append("dockerd")
    leftover = [p.name for p in processes if process.is_ours(p)]
    if leftover:
        problems.append(f"still running: {', '.join(leftover)}")
    if problems:
        raise ConformanceError(f"kind environment not fully removed ({'; '.join(problems)}); state kept in "
                               f"{state.state_file()}")
    state.clear()
    return removed


def status() -> dict[str, Any]:
    """The state plus which recorded processes and containers still run."""
    current = state.load()
    if current is None:
        return {"running": False, "registry": None, "kubeconfig": None, "nvcf": None, "processes": []}
    procs = [{**raw, "alive": process.is_ours(process.ProcessRecord.from_dict(raw))}
             for raw in current.get("processes", [])]
    host = (current.get("docker") or {}).get("host")
    containers = []
    for container in current.get("containers", []):
        alive = False
        if host:
            done = kind_docker.run_docker(host, "inspect", "--format", "{{.State.Running}}", container["id"],
                                          check=False, timeout=15)
            alive = done.returncode == 0 and done.stdout.strip() == b"true"
        containers.append({**container, "alive": alive})
    running = bool(procs) and all(p["alive"] for p in procs) and all(c["alive"] for c in containers)
    return {**current, "processes": procs, "containers": containers, "running": running}
