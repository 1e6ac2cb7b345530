"""The local OCI registry: real CNCF distribution with htpasswd auth, driven by real helm."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from conformance.env.registry import RegistryEndpoint
from conformance.paths import tool


def _helm(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "HELM_REGISTRY_CONFIG": str(home / "registry.json"),
        "HELM_REPOSITORY_CONFIG": str(home / "repositories.yaml"),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    return subprocess.run([str(tool("helm")), *args], env=env, input=stdin, capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.fixture
def chart(tmp_path: Path) -> Path:
    src = tmp_path / "src" / "roundtrip"
    (src / "templates").mkdir(parents=True)
    (src / "Chart.yaml").write_text("apiVersion: v2\nname: roundtrip\nversion: 1.2.3\ntype: application\n")
    (src / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: roundtrip\ndata:\n  k: v\n"
    )
    out = _helm(tmp_path, "package", str(src), "-d", str(tmp_path))
    assert out.returncode == 0, out.stderr
    return tmp_path / "roundtrip-1.2.3.tgz"


def test_v2_api_requires_credentials(registry: RegistryEndpoint) -> None:
    url = f"http://{registry.address}/v2/"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, auth=(registry.username, "wrong")).status_code == 401
    assert httpx.get(url, auth=(registry.username, registry.password)).status_code == 200


def test_push_without_credentials_is_refused(registry: RegistryEndpoint, chart: Path, tmp_path: Path) -> None:
    home = tmp_path / "anon"
    home.mkdir()
    out = _helm(home, "push", str(chart), f"oci://{registry.address}/conformance/charts", "--plain-http")
    assert out.returncode != 0
    # helm says "basic credential not found" (it got a 401 challenge and had nothing to answer it with).
    assert any(word in out.stderr.lower() for word in ("401", "unauthorized", "credential"))


def test_push_pull_round_trip_with_credentials(registry: RegistryEndpoint, chart: Path, tmp_path: Path) -> None:
    home = tmp_path / "user"
    home.mkdir()
    login = _helm(home, "registry", "login", registry.address, "--plain-http", "--username", registry.username,
                  "--password-stdin", stdin=registry.password)
    assert login.returncode == 0, login.stderr
    pushed = _helm(home, "push", str(chart), f"oci://{registry.address}/conformance/charts", "--plain-http")
    assert pushed.returncode == 0, pushed.stderr
    assert "Digest: sha256:" in pushed.stdout + pushed.stderr
    dest = tmp_path / "pulled"
    dest.mkdir()
    pulled = _helm(home, "pull", f"oci://{registry.address}/conformance/charts/roundtrip", "--version", "1.2.3",
                   "--plain-http", "-d", str(dest))
    assert pulled.returncode == 0, pulled.stderr
    assert (dest / "roundtrip-1.2.3.tgz").read_bytes() == chart.read_bytes()

    anon = tmp_path / "anon-pull"
    anon.mkdir()
    refused = _helm(anon, "pull", f"oci://{registry.address}/conformance/charts/roundtrip", "--version", "1.2.3",
                    "--plain-http", "-d", str(anon))
    assert refused.returncode != 0
