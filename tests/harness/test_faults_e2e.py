"""A broken set-up ends a run as ERROR (exit 2, one line, no traceback), never as a verdict.

End to end through `nvcf-conformance run`: a closed port, a wrong token, a registry that is down
before the run (preflight) and one that goes away in the middle of it (the refusals it causes are
set-up ERRORs, not PASSes of refusal rules nor FAILs of deployment rules). An answer of the wrong
shape is the implementation's: a FAIL with the observation.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.env.local_registry import LocalRegistry
from conformance.env.reference_server import ReferenceServer
from conformance.env.registry import RegistryEndpoint
from conformance.paths import ROOT

pytestmark = pytest.mark.slow


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(args: list[str], env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NVCF_") and k != "KUBECONFIG"}
    return subprocess.run([sys.executable, "-m", "conformance.cli", *args], cwd=ROOT, env={**clean, **env},
                          capture_output=True, text=True, timeout=timeout, check=False)


def results(report_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for path in sorted((report_dir / "results").glob("results-*.jsonl"))
            for line in path.read_text().splitlines() if line.strip()]


def assert_one_line_error(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("nvcf-conformance: error:")]
    assert len(errors) == 1 and needle in errors[0], proc.stderr


def test_a_closed_port_is_one_line_and_exit_2(tmp_path: Path) -> None:
    report = tmp_path / "report"
    env = {"NVCF_GATEWAY_ADDR": f"127.0.0.1:{closed_port()}", "NVCF_TOKEN": "t0ken-e2e"}
    proc = run_cli(["run", "--run-id", "e2e-closed", "--report-dir", str(report), "-n", "2"], env, timeout=120)
    assert_one_line_error(proc, "no answer from")
    document = yaml.safe_load((report / "conformance-report.yaml").read_text())
    assert any("preflight: management API" in r for r in document["incomplete_reasons"])
    assert results(report) == []  # not one test ran against nothing


def test_a_wrong_token_is_a_setup_error_not_19_fails(reference: dict[str, Any], registry: RegistryEndpoint,
                                                     tmp_path: Path) -> None:
    env = {"NVCF_GATEWAY_ADDR": f"127.0.0.1:{reference['port']}", "NVCF_TOKEN": "not-the-token-e2e",
           "NVCF_API_KEY": reference["api_key"], "NVCF_REGISTRY": registry.address,
           "NVCF_REGISTRY_USERNAME": registry.username, "NVCF_REGISTRY_PASSWORD": registry.password}
    report = tmp_path / "report"
    proc = run_cli(["run", "--run-id", "e2e-token", "--report-dir", str(report)], env, timeout=120)
    assert_one_line_error(proc, "management token was refused (401)")
    assert "not-the-token-e2e" not in proc.stdout + proc.stderr + (report / "conformance-report.yaml").read_text()


def test_a_registry_down_before_the_run_is_found_by_preflight(reference: dict[str, Any], tmp_path: Path) -> None:
    env = {"NVCF_GATEWAY_ADDR": f"127.0.0.1:{reference['port']}", "NVCF_TOKEN": reference["token"],
           "NVCF_API_KEY": reference["api_key"], "NVCF_REGISTRY": f"127.0.0.1:{closed_port()}",
           "NVCF_REGISTRY_USERNAME": "u", "NVCF_REGISTRY_PASSWORD": "registry-pass-e2e"}
    proc = run_cli(["preflight"], env, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "fail  registry: registry 127.0.0.1:" in proc.stdout and "cannot be reached" in proc.stdout, proc.stdout


@pytest.mark.env
def test_a_registry_stopped_mid_run_gives_errors_not_verdicts(embedded_env: dict[str, Any], tmp_path: Path) -> None:
    """The reference pulls charts from a registry that is stopped after the charts were pushed: the
    refusals and failed deployments that follow are the set-up's, so no rule PASSes or FAILs on them."""
    own = LocalRegistry(tmp_path / "registry")
    endpoint = own.start()
    server = ReferenceServer(tmp_path / "reference", Path(str(embedded_env["kubeconfig"])), endpoint)
    try:
        info = server.start()
        target = tmp_path / "target.yaml"
        target.write_text(yaml.safe_dump({
            "nvcf": {"gateway": info["gateway"], "token": info["token"], "api_key": info["api_key"]},
            "registry": {"address": endpoint.address, "username": endpoint.username, "password": endpoint.password},
            "kubeconfig": str(embedded_env["kubeconfig"]),
            "timeouts": {"deploy_active": 60, "deploy_error": 60},
        }))
        target.chmod(0o600)
        manifest = tmp_path / "charts.json"
        pushed = run_cli(["charts", "push", "--registry", endpoint.address, "--registry-username", endpoint.username,
                          "--registry-password-env", "E2E_REGISTRY_PASSWORD", "--run-id", "e2e-mid", "--no-twins",
                          "--case", "minimal-http", "kind-forbidden-daemonset", "--json",
                          "--out", str(tmp_path / "charts")], {"E2E_REGISTRY_PASSWORD": endpoint.password})
        assert pushed.returncode == 0, pushed.stderr
        manifest.write_text(pushed.stdout)
        own.stop()
        report = tmp_path / "report"
        proc = run_cli(["run", "--target-config", str(target), "--run-id", "e2e-mid", "--report-dir", str(report),
                        "--charts-manifest", str(manifest), "--no-preflight",
                        "--rule", "KIND-FORBIDDEN", "--case", "kind-forbidden-daemonset",
                        "--rule", "LIFECYCLE-DEPLOY", "--case", "minimal-http"], {})
        lines = results(report)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert lines and {r["status"] for r in lines} == {"ERROR"}, [(r["rule_id"], r["status"]) for r in lines]
        assert all("cannot be reached" in r["message"] for r in lines), [r["message"] for r in lines]
    finally:
        if server.record is not None:
            from conformance.env import process

            process.stop(server.record)
        own.stop()
