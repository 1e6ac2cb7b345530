"""A KWOK cluster (`kwokctl --runtime binary`) on 127.0.0.1 with fake CPU and GPU nodes.

The control plane is real (etcd, kube-apiserver with Pod Security admission, controller-manager,
scheduler); only kubelets are simulated by the kwok controller. Pod IPs it hands out are fake
private-range addresses: nothing in this project ever dials them.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config

from conformance.env import process
from conformance.env.config import EnvConfig, NodeGroup
from conformance.errors import ConformanceError
from conformance.paths import tool

GROUP_LABEL = "nvcf-conformance.io/node-group"
GPU_RESOURCE = "nvidia.com/gpu"
STORAGE_CLASS = "standard"


class KwokCluster:
    def __init__(self, home: Path, cfg: EnvConfig, *, enable_crds: tuple[str, ...] = ()) -> None:
        self.home = home
        self.cfg = cfg
        # kwok kinds served as custom resources (e.g. PortForward, so a test can point a fake pod's
        # port-forward at a local process); none by default.
        self.enable_crds = enable_crds
        self.name = cfg.cluster_name
        self.workdir = home / "kwok"
        self.log = home / "kwokctl.log"

    @property
    def cluster_dir(self) -> Path:
        return self.workdir / "clusters" / self.name

    @property
    def kubeconfig(self) -> Path:
        return self.cluster_dir / "kubeconfig.yaml"

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KWOK_")}
        env["KWOK_WORKDIR"] = str(self.workdir)
        # kwokctl looks kubectl up on PATH before it would try to download one.
        env["PATH"] = f"{tool('kubectl').parent}:{env.get('PATH', '/usr/bin:/bin')}"
        return env

    def _config_file(self) -> Path:
        options = {
            "runtime": "binary",
            "bindAddress": "127.0.0.1",
            "kubeApiserverBinary": str(tool("kube-apiserver")),
            "kubeControllerManagerBinary": str(tool("kube-controller-manager")),
            "kubeSchedulerBinary": str(tool("kube-scheduler")),
            "kubectlBinary": str(tool("kubectl")),
            "etcdBinary": str(tool("etcd")),
            "kwokControllerBinary": str(tool("kwok")),
            # Admission stays on: Pod Security admission is part of what charts are checked against.
            "kubeAdmission": True,
            "kubeAuthorization": True,
        }
        if self.enable_crds:
            options["enableCRDs"] = list(self.enable_crds)
        # The in-tree hostPath provisioner serves the default StorageClass (see add_storage).
        patches = [{"name": "kube-controller-manager",
                    "extraArgs": [{"key": "enable-hostpath-provisioner", "value": "true"}]}]
        docs = [{"kind": "KwokctlConfiguration", "apiVersion": "config.kwok.x-k8s.io/v1alpha1", "options": options,
                 "componentsPatches": patches}]
        self.home.mkdir(parents=True, exist_ok=True)
        path = self.home / "kwokctl.yaml"
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        return path

    def _kwokctl(self, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        with open(self.log, "a") as log:
            log.write(f"\n$ kwokctl {' '.join(args)}\n")
            log.flush()
            try:
                return subprocess.run(
                    [str(tool("kwokctl")), *args], env=self._env(), stdout=log, stderr=subprocess.STDOUT,
                    text=True, timeout=timeout, check=False,
                )
            except subprocess.TimeoutExpired:
                raise ConformanceError(
                    f"kwokctl {args[0]} {args[1] if len(args) > 1 else ''} timed out after {timeout:.0f}s; "
                    f"log {self.log}"
                ) from None

    def create(self, attempts: int = 3) -> None:
        """Start the cluster; a component that lost its port to another process is started again.

        kwokctl picks free ports and binds them later, so with several clusters starting at once (tests
        under xdist, a nightly runner) another process can take a port in between. kwokctl's `--wait`
        only waits for the API server: a scheduler that died on `address already in use` would leave
        every pod Pending. So every component is checked alive after the nodes are Ready.
        """
        for attempt in range(1, attempts + 1):
            try:
                self._create_once()
            except ConformanceError:
                # etcd or the API server losing its port shows as a start that never gets ready.
                if attempt == attempts or not self._lost_a_port(self.dead_components()):
                    raise
                self.delete()
                continue
            dead = self.dead_components()
            if not dead:
                return
            if self._lost_a_port(dead) and attempt < attempts:
                self.delete()
                continue
            causes = "; ".join(f"{name}: {cause}" for name, cause in dead.items())
            raise ConformanceError(
                f"KWOK cluster component(s) exited after start: {causes}; logs in {self.cluster_dir / 'logs'}"
            )

    def _create_once(self) -> None:
        cfg_file = self._config_file()
        wait = int(self.cfg.start_timeout)
        result = self._kwokctl(
            "create", "cluster", "--name", self.name, "--config", str(cfg_file), "--kubeconfig", "",
            "--wait", f"{wait}s", timeout=self.cfg.start_timeout + 30,
        )
        if result.returncode != 0:
            raise ConformanceError(
                f"KWOK cluster failed to start (kwokctl exit {result.returncode}): {process.tail(self.log, 3)}; "
                f"log {self.log}, component logs in {self.cluster_dir / 'logs'}"
            )
        self.add_nodes()

    def _lost_a_port(self, dead: dict[str, str]) -> bool:
        collided = [name for name, cause in dead.items() if "address already in use" in cause]
        if collided:
            with open(self.log, "a") as log:
                log.write(f"\n{', '.join(collided)} lost a port to another process; starting again\n")
        return bool(collided)

    def dead_components(self) -> dict[str, str]:
        """Components whose recorded pid no longer runs, each with the last line of its log."""
        return {
            record.name: process.tail(record.log, 1) or "exited"
            for record in self.pids() if not process.is_ours(record)
        }

    def pids(self) -> list[process.ProcessRecord]:
        """The control-plane processes kwokctl started, from the pid files it keeps."""
        records = []
        for pid_file in sorted((self.cluster_dir / "pids").glob("*.pid")):
            try:
                pid = int(pid_file.read_text().strip())
            except (OSError, ValueError):
                continue
            try:
                first = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0].decode()
            except OSError:
                first = pid_file.stem
            log = self.cluster_dir / "logs" / f"{pid_file.stem}.log"
            records.append(process.ProcessRecord(pid_file.stem, pid, str(log), first))
        return records

    def delete(self) -> None:
        records = self.pids()
        if self.cluster_dir.exists():
            self._kwokctl("delete", "cluster", "--name", self.name, timeout=120)
        # kwokctl stops its components by the same pid files; make sure, by pid, that none outlived it.
        for record in records:
            process.stop(record, grace=5)

    def api(self) -> client.CoreV1Api:
        return client.CoreV1Api(config.new_client_from_config(str(self.kubeconfig)))

    def add_nodes(self) -> None:
        api = self.api()
        serial = 0
        for group in self.cfg.nodes:
            for i in range(group.count):
                serial += 1
                body = node_manifest(group, i, serial)
                try:
                    api.create_node(body)
                except client.ApiException as exc:
                    if exc.status != 409:
                        raise ConformanceError(f"creating fake node {body['metadata']['name']}: {exc.reason}") from None
        self.wait_nodes_ready(api)
        self.add_storage()

    def add_storage(self) -> None:
        """A default StorageClass served by the controller-manager's in-tree hostPath provisioner.

        KWOK runs no storage driver, so claims would stay Pending. The controller-manager (started with
        `--enable-hostpath-provisioner`, see `_config_file`) provisions each claim of this class with a
        fresh folder under /tmp/hostpath_pv on this machine and deletes it with the claim (reclaim
        Delete), as a one-node development cluster does. Nothing mounts the folders: no container runs.
        """
        api_client = config.new_client_from_config(str(self.kubeconfig))
        _create_ignoring_conflict(client.StorageV1Api(api_client).create_storage_class, {
            "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": STORAGE_CLASS,
                         "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "kubernetes.io/host-path",
            "volumeBindingMode": "Immediate",
            "reclaimPolicy": "Delete",
        })

    def wait_nodes_ready(self, api: client.CoreV1Api) -> None:
        want = sum(g.count for g in self.cfg.nodes)
        deadline = time.monotonic() + self.cfg.start_timeout
        ready = 0
        while time.monotonic() < deadline:
            nodes = api.list_node(label_selector=GROUP_LABEL).items
            ready = sum(
                1 for n in nodes
                if any(c.type == "Ready" and c.status == "True" for c in (n.status.conditions or []))
            )
            if ready >= want:
                return
            time.sleep(0.5)
        raise ConformanceError(f"only {ready}/{want} fake nodes became Ready; kwok log {self.cluster_dir / 'logs'}")


def _create_ignoring_conflict(create: Any, body: dict[str, Any]) -> None:
    try:
        create(body)
    except client.ApiException as exc:
        if exc.status != 409:
            raise ConformanceError(f"creating {body['kind']} {body['metadata']['name']}: {exc.reason}") from None


def node_manifest(group: NodeGroup, index: int, serial: int = 1) -> dict[str, object]:
    """A fake Node as GPU feature discovery and the device plugin would leave it.

    Its InternalIP is from TEST-NET-1 (192.0.2.0/24, documentation-only): hostNetwork pods get it as
    their IP so Services get endpoints, and no packet is ever sent there.
    """
    name = f"{group.name}-{index}"
    labels = {
        "type": "kwok",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        GROUP_LABEL: group.name,
    }
    resources: dict[str, str] = {"cpu": group.cpu, "memory": group.memory, "pods": str(group.pods)}
    if group.gpus:
        labels.update({
            "nvidia.com/gpu.present": "true",
            "nvidia.com/gpu.product": group.product_label,
            "nvidia.com/gpu.count": str(group.gpus),
        })
        resources[GPU_RESOURCE] = str(group.gpus)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            # kwok only simulates nodes that carry this annotation (or all, with --manage-all-nodes).
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {},
        "status": {
            "allocatable": resources,
            "capacity": resources,
            "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux", "kubeletVersion": "fake"},
            "addresses": [{"type": "InternalIP", "address": f"192.0.2.{serial}"},
                          {"type": "Hostname", "address": name}],
        },
    }
