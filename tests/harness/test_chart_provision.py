"""Charts a folder records for one registry are never handed to a run against another (issue #12, #8).

A mutation run once took the twins' chart URLs from a folder filled by an earlier run whose registry
no longer existed, so every twin was "refused" with "registry cannot be reached".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.env.local_registry import LocalRegistry
from conformance.env.registry import RegistryEndpoint
from conformance.plugin.charts import provision
from conformance.target.config import load_target

pytestmark = pytest.mark.env


def target(registry: RegistryEndpoint) -> object:
    return load_target(environ={}, overrides={
        "nvcf.gateway": "127.0.0.1:1", "nvcf.token": "t0ken-provision", "registry.address": registry.address,
        "registry.username": registry.username, "registry.password": registry.password})


def test_a_folder_filled_for_another_registry_is_not_reused(registry: RegistryEndpoint, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVCF_RUN_DIR", str(tmp_path / "run"))
    results = tmp_path / "results"
    first = provision(target(registry), "prov", ["minimal-http"], results)  # type: ignore[arg-type]
    assert first["minimal-http"].helm_chart.startswith(f"oci://{registry.address}/")
    other = LocalRegistry(tmp_path / "other-registry")
    second_registry = other.start()
    try:
        second = provision(target(second_registry), "prov", ["minimal-http"], results)  # type: ignore[arg-type]
    finally:
        other.stop()
    assert second["minimal-http"].helm_chart.startswith(f"oci://{second_registry.address}/")
    assert second.registry == second_registry.address


def test_prune_removes_one_runs_charts_and_keeps_the_others(registry: RegistryEndpoint, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance import cli

    monkeypatch.setenv("NVCF_RUN_DIR", str(tmp_path / "run"))
    kept = provision(target(registry), "prune-kept", ["minimal-http"], tmp_path / "kept")  # type: ignore[arg-type]
    gone = provision(target(registry), "prune-gone", ["minimal-http"], tmp_path / "gone")  # type: ignore[arg-type]
    monkeypatch.setenv("PRUNE_PASSWORD", registry.password)
    args = ["charts", "prune", "--run-id", "prune-gone", "--registry", registry.address,
            "--registry-username", registry.username, "--registry-password-env", "PRUNE_PASSWORD"]
    assert cli.main(args) == 0
    from conformance.charts import naming, oci

    client = oci.Registry(naming.registry_address(registry.address), registry.username, registry.password)
    name = "minimal-http"
    assert client.digest(f"nvcf-conformance/prune-gone/charts/{name}", "1.0.0") is None
    assert client.digest(f"nvcf-conformance/prune-gone/charts/{name}-1.0.0.tgz", "1.0.0") is None  # the alias too
    assert client.digest(f"nvcf-conformance/prune-kept/charts/{name}", "1.0.0") == kept[name].digest
    assert gone[name].digest  # it was there before the prune
