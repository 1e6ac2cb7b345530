"""One real mutation run: two mutants against the embedded environment, both must be caught."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conformance.mutation.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.env]


def still_serving(state_file: Path) -> bool:
    """Whether the server that wrote `state_file` still runs. Its pid alone does not say: pids wrap
    around on a busy machine, so the process must also be that server (its command names its folder)."""
    pid = int(yaml.safe_load(state_file.read_text())["pid"])
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z" and str(state_file.parent) in cmdline


def test_two_mutants_are_caught(embedded_env: dict[str, object], tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    # The session fixture's environment is the one to reuse: point the run dir at it.
    monkeypatch.setenv("NVCF_RUN_DIR", str(embedded_env["run_dir"]))
    out = tmp_path / "mutation"
    # The twins have a test of their own below: all 64 would add minutes here.
    code = main(["--rule", "KIND-FORBIDDEN", "--rule", "FN-NAME-INVALID-REFUSED", "-n", "2", "--out", str(out),
                 "--no-twins"])
    report = yaml.safe_load((out / "mutation-report.yaml").read_text())
    verdicts = {m["rule"]: m for m in report["mutants"]}
    assert {r: m["verdict"] for r, m in verdicts.items()} == {
        "KIND-FORBIDDEN": "CAUGHT", "FN-NAME-INVALID-REFUSED": "CAUGHT"}, verdicts
    assert code == 0 and report["score"] == {"caught": 2, "mutants": 2, "percent": 100.0}
    assert all(m["smoke"]["ok"] for m in verdicts.values()), verdicts
    assert report["environment"].startswith("reused")
    # The same rules pass at the unmutated reference, so the FAILs above are the mutants' doing.
    assert [(b["server_flags"], b["not_passing"]) for b in report["baseline"]] == [([], {})], report["baseline"]
    # Every mutant server was stopped: nothing of ours is left listening.
    for state in out.glob("work/*/server/state.json"):
        assert not still_serving(state), state


def test_fixed_twins_deploy_on_the_unmutated_reference(embedded_env: dict[str, object], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance.mutation.environment import shared_environment
    from conformance.mutation.twins import PASS, run_twins

    monkeypatch.setenv("NVCF_RUN_DIR", str(embedded_env["run_dir"]))
    with shared_environment(tmp_path / "env", lambda _: None) as env:
        run = run_twins(env, tmp_path / "twins", only=["kind-forbidden-daemonset", "hook-pre-install"])
    assert [(r.twin, r.status) for r in run.results] == [
        ("hook-pre-install-twin", PASS), ("kind-forbidden-daemonset-twin", PASS)], run.results
    assert all("answered" in r.reason for r in run.results) and run.missing == ()
    assert not still_serving(tmp_path / "twins" / "server" / "state.json")
