"""`env up` / `env status --json` / `env down` through the CLI, and nothing left running after."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.env


def _cli(run_dir: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NVCF_RUN_DIR": str(run_dir)}
    return subprocess.run([sys.executable, "-m", "conformance.cli", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def test_up_status_down_leaves_no_process(tmp_path: Path) -> None:
    cfg = tmp_path / "env.yaml"
    cfg.write_text("clusterName: lifecycle\nnodes:\n  - {name: b200, count: 1, gpus: 8, gpuProduct: B200}\n")
    up = _cli(tmp_path, "env", "up", "--config", str(cfg))
    try:
        assert up.returncode == 0, up.stderr
        status = _cli(tmp_path, "env", "status", "--json")
        assert status.returncode == 0, status.stderr
        data = json.loads(status.stdout)
        assert data["running"] is True
        assert set(data["registry"]) >= {"address", "username", "password"}
        assert Path(data["kubeconfig"]).is_file()
        names = {p["name"] for p in data["processes"]}
        assert {"registry", "etcd", "kube-apiserver", "kwok-controller"} <= names
        pids = [p["pid"] for p in data["processes"]]
        assert all(_alive(pid) for pid in pids)
        human = _cli(tmp_path, "env", "status")
        assert data["registry"]["password"] not in human.stdout + human.stderr
        assert data["registry"]["password"] not in up.stdout + up.stderr
    finally:
        down = _cli(tmp_path, "env", "down")
    assert down.returncode == 0, down.stderr
    assert not [pid for pid in pids if _alive(pid)]
    after = _cli(tmp_path, "env", "status", "--json")
    assert after.returncode == 1 and json.loads(after.stdout)["running"] is False


def test_failed_component_is_named_with_its_log_and_nothing_is_left(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = tmp_path / "env.yaml"
        cfg.write_text(f"registry: {{port: {port}}}\nstartTimeoutSeconds: 5\n")
        up = _cli(tmp_path, "env", "up", "--config", str(cfg))
    assert up.returncode == 2
    last = up.stderr.strip().splitlines()[-1]
    assert last.startswith("nvcf-conformance: error: registry failed")
    assert "registry.log" in last and "Traceback" not in up.stderr
    status = _cli(tmp_path, "env", "status", "--json")
    assert json.loads(status.stdout)["running"] is False
