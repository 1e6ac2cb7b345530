"""A kind cluster for the kind path: created from kind-config/<layout>-node.yaml with our node image.

After `kind create cluster` it waits until every node is Ready, points each node's containerd at the
registry container (`trust_registry`), applies the KEP-1755 ConfigMap, and gives the GPU-labelled
nodes their fake capacity (kind-config/fake-gpus.sh).
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

from conformance.errors import ConformanceError
from conformance.paths import ROOT, tool

KIND_CONFIG = ROOT / "kind-config"


def layout_config(layout: str) -> Path:
    """kind-config/<layout>-node.yaml: `multi` (control plane + 2 GPU workers) or `single`."""
    return KIND_CONFIG / f"{layout}-node.yaml"


def _run(argv: list[str], env: Mapping[str, str], log: Path, timeout: float, what: str,
         input_bytes: bytes | None = None) -> str:
    """Run a command, its stderr appended to `log`; a failure names `what` and the last log lines."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as err:
        err.write(f"\n$ {' '.join(argv)}\n".encode())
        err.flush()
        try:
            done = subprocess.run(argv, env=dict(env), stdout=subprocess.PIPE, stderr=err, timeout=timeout,
                                  input=input_bytes, check=False)
        except subprocess.TimeoutExpired:
            raise ConformanceError(f"{what} did not finish within {timeout:.0f}s; log {log}") from None
    if done.returncode != 0:
        lines = log.read_text(errors="replace").strip().splitlines()
        raise ConformanceError(f"{what} failed (exit {done.returncode}): {' | '.join(lines[-3:])}; log {log}")
    return done.stdout.decode(errors="replace")


class KindCluster:
    def __init__(self, name: str, home: Path, env: Mapping[str, str], layout: str = "multi") -> None:
        self.name = name
        self.home = home
        self.env = dict(env)
        self.layout = layout
        self.kubeconfig = home / "kubeconfig"
        self.log = home / "kind.log"

    @property
    def config(self) -> Path:
        return layout_config(self.layout)

    def kind(self, *args: str, timeout: float = 600.0, what: str = "kind") -> str:
        return _run([str(tool("kind")), *args], self.env, self.log, timeout, what)

    def kubectl(self, *args: str, timeout: float = 120.0, input_bytes: bytes | None = None) -> str:
        argv = [str(tool("kubectl")), "--kubeconfig", str(self.kubeconfig), *args]
        return _run(argv, self.env, self.log, timeout, f"kubectl {args[0]}", input_bytes)

    def exists(self) -> bool:
        return self.name in self.kind("get", "clusters", what="kind get clusters").split()

    def create(self, node_image: str, timeout: float) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.kind("create", "cluster", "--name", self.name, "--config", str(self.config), "--image", node_image,
                  "--kubeconfig", str(self.kubeconfig), "--wait", f"{int(timeout)}s", "--retain=false",
                  timeout=timeout + 300, what="kind create cluster")
        self.kubectl("wait", "--for=condition=Ready", "nodes", "--all", f"--timeout={int(timeout)}s",
                     timeout=timeout + 30)

    def nodes(self) -> list[str]:
        return self.kind("get", "nodes", "--name", self.name, what="kind get nodes").split()

    def trust_registry(self, registry_name: str, host_port: str) -> None:
        """Pulls of HOST_PORT/... (the address the harness pushes to and the charts name) go to the
        registry container on kind's network: inside a node 127.0.0.1 is the node itself.

        No credentials here: a pod must bring the pull secret. The kubelet hands it to containerd
        without a server address, so containerd offers it to this mirror host too, and a pod without
        one is refused (401), as it would be by any private registry.
        """
        hosts = (f'server = "http://{host_port}"\n\n'
                 f'[host."http://{registry_name}:5000"]\n  capabilities = ["pull", "resolve"]\n')
        directory = f"/etc/containerd/certs.d/{host_port}"
        for node in self.nodes():
            _run(["docker", "exec", "-i", node, "sh", "-c", f"mkdir -p '{directory}' && cat >'{directory}/hosts.toml'"],
                 self.env, self.log, 60, f"writing hosts.toml on {node}", hosts.encode())

    def publish_registry(self, host_port: str) -> None:
        manifest = (KIND_CONFIG / "local-registry-hosting.yaml").read_text().replace("localhost:5001", host_port)
        self.kubectl("apply", "-f", "-", input_bytes=manifest.encode())

    def fake_gpus(self) -> None:
        _run(["bash", str(KIND_CONFIG / "fake-gpus.sh"), str(self.kubeconfig)], self.env, self.log, 300,
             "kind-config/fake-gpus.sh")

    def delete(self) -> None:
        self.kind("delete", "cluster", "--name", self.name, "--kubeconfig", str(self.kubeconfig), timeout=300,
                  what="kind delete cluster")
