"""Self-test: the API-level suites against the real reference server, which must pass every one.

The reference runs as a separate process (`nvcf-reference serve`) on 127.0.0.1 with a
temporary database and tokens file; charts are pushed to a real local registry. The harness reaches
it only through its API, exactly as it would reach any other implementation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.env.registry import RegistryEndpoint
from conformance.paths import ROOT

API_SUITES = ("suites/test_function_api.py", "suites/test_deployment_api.py", "suites/test_invocation_api.py")
pytestmark = pytest.mark.slow


def run_suites(reference: dict[str, Any], registry: RegistryEndpoint, results: Path, *suites: str,
               extra: tuple[str, ...] = ()) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    env = {
        **os.environ,
        "NVCF_GATEWAY_ADDR": f"127.0.0.1:{reference['port']}",
        "NVCF_TOKEN": reference["token"],
        "NVCF_API_KEY": reference["api_key"],
        "NVCF_IMPLEMENTATION": "nvcf-conformance reference",
        "NVCF_REGISTRY": registry.address,
        "NVCF_REGISTRY_USERNAME": registry.username,
        "NVCF_REGISTRY_PASSWORD": registry.password,
    }
    env.pop("KUBECONFIG", None)
    cmd = [sys.executable, "-m", "pytest", "-p", "conformance.plugin", *suites, "--results-dir", str(results),
           "--run-id", f"selftest-{os.getpid()}", "-p", "no:cacheprovider", "-o", "addopts=", "-q", *extra]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    lines = [json.loads(line) for f in sorted(results.glob("results-*.jsonl")) for line in f.read_text().splitlines()]
    return proc, lines


def test_api_suites_pass_against_the_reference(reference: dict[str, Any], registry: RegistryEndpoint,
                                               tmp_path: Path) -> None:
    # This reference has no back half, so deployments end in ERROR: the one API rule that is judged on
    # an ACTIVE function is left to the full self-test below.
    proc, lines = run_suites(reference, registry, tmp_path / "results", *API_SUITES, extra=(
        "--profile", "ext", "--deselect", "suites/test_invocation_api.py::test_poll_seconds_above_max_refused"))
    problems = [f"{r['nodeid']}: {r['status']}: {r['message']}" for r in lines if r["status"] != "PASS"]
    assert proc.returncode == 0 and not problems, "\n".join(problems) or proc.stdout[-3000:]
    assert len(lines) >= 30
    secrets = (reference["token"], reference["api_key"], registry.password)
    for path in (tmp_path / "results").iterdir():
        text = path.read_text()
        assert not any(secret in text for secret in secrets), f"a secret leaked into {path.name}"
    meta = json.loads((tmp_path / "results" / "run-meta.json").read_text())
    assert meta["complete"] is True and meta["implementation"] == "nvcf-conformance reference"


def test_the_rules_the_mutation_baseline_skips_pass_on_the_embedded_env(embedded_env: dict[str, Any],
                                                                         tmp_path: Path) -> None:
    """The SHOULD rules (and the smoke rules) against the reference on KWOK through `nvcf-conformance run`,
    every profile but `security-enforced` (the reference's default policy is `current`): all PASS, exit 0.

    The MUST and EXT rules are not run again here: `make mutation` (in `.ci/run`) runs every one of them
    against the unmutated reference first, as its baseline, and fails on any that does not pass there.
    """
    from conformance.catalog import load_catalog
    from conformance.mutation.mutants import load_mapping

    report_dir = tmp_path / "report"
    profiles = ("grpc", "multinode", "ext", "security-current")
    rules = [r.id for r in load_catalog() if r.level == "SHOULD" and "security-enforced" not in r.profiles]
    rules += [r for r in load_mapping().smoke if r not in rules]
    cmd = [sys.executable, "-m", "conformance.cli", "run", "--run-id", "selftest", "--report-dir", str(report_dir),
           *(arg for p in profiles for arg in ("--profile", p)), *(arg for r in rules for arg in ("--rule", r))]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1500, check=False)
    lines = [json.loads(line) for path in sorted((report_dir / "results").glob("results-*.jsonl"))
             for line in path.read_text().splitlines() if line.strip()]
    problems = [f"{r['nodeid']}: {r['status']}: {r['message']}" for r in lines if r["status"] not in ("PASS", "SKIP")]
    assert proc.returncode == 0 and not problems, "\n".join(problems) or proc.stdout[-3000:] + proc.stderr[-2000:]
    skipped = [r["nodeid"] for r in lines if r["status"] == "SKIP" and r["level"] in ("MUST", "SHOULD")]
    assert not skipped
    assert {r["rule_id"] for r in lines} >= set(rules) - {"REFUSAL-NAMES-OFFENDER"}
    nvcf, registry = embedded_env["nvcf"], embedded_env["registry"]
    secrets = (nvcf["token"], nvcf["api_key"], registry["password"])
    for path in report_dir.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".yaml", ".xml", ".html", ".sh", ".txt"):
            text = path.read_text(errors="replace")
            assert not any(secret in text for secret in secrets), f"a secret leaked into {path}"
