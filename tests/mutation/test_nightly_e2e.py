"""What nightly CI does, on real runs against the reference: `report diff` and `run --baseline` catch a rule
that regressed between two runs, and `run --rerun-failures` reports a flaky implementation as FLAKY.

Each run gets a reference server of its own on the shared embedded environment (as the mutation runner
starts them: conformance/mutation/server.py), the unmutated one, a mutant (`--violate RULE`) or the flaky
test device (`--violate FLAKY:RULE`: the rule broken on every other occasion, see reference/config.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from conformance.mutation.environment import SharedEnv, shared_environment
from conformance.mutation.runner import clean_environ, run_command
from conformance.mutation.server import MutantServer
from conformance.paths import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.env]

STEADY = "INVOKE-PEXEC-ANSWER"  # passes on the unmutated reference: must not show up as a change
REGRESSING = "FN-NAME-INVALID-REFUSED"  # the mutant accepts every function name
RUN_TIMEOUT = 900


@dataclass(frozen=True)
class Run:
    code: int
    report: Path
    out: str
    seconds: float

    def document(self) -> dict:
        return yaml.safe_load((self.report / "conformance-report.yaml").read_text())


@pytest.fixture
def env(embedded_env: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SharedEnv]:
    monkeypatch.setenv("NVCF_RUN_DIR", str(embedded_env["run_dir"]))  # reuse the session's environment
    with shared_environment(tmp_path / "env", lambda _: None) as shared:
        yield shared


def run_at(env: SharedEnv, home: Path, violate: Sequence[str], rules: Sequence[str], *extra: str) -> Run:
    """Start a reference server (a mutant when `violate`), run `rules` at it with `extra` options, stop it."""
    server = MutantServer(home / "server", env, violate)
    started = time.monotonic()
    try:
        server.start()
        target = server.write_target(home / "target.yaml")
        report = home / "report"
        cmd = [*run_command(rules, [], target, report, f"e2e-{home.name}", None), *extra]
        # One run folder for every run of the test: the chart cache is content-addressed and the runs
        # are sequential, so the second run builds nothing (its charts are still pushed under its run id).
        proc = subprocess.run(cmd, cwd=ROOT, env=clean_environ({"NVCF_RUN_DIR": str(home.parent / "run")}),
                              capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False)
    finally:
        server.stop()
    return Run(proc.returncode, report, proc.stdout + proc.stderr, time.monotonic() - started)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "conformance.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)


def test_a_mutant_regresses_a_rule_between_two_runs(env: SharedEnv, tmp_path: Path) -> None:
    rules = [STEADY, REGRESSING]
    night1 = run_at(env, tmp_path / "night1", [], rules)
    assert night1.code == 0, night1.out
    night2 = run_at(env, tmp_path / "night2", [REGRESSING], rules, "--baseline", str(night1.report))
    print(f"\nrun at the reference {night1.seconds:.1f} s, at the mutant with --baseline {night2.seconds:.1f} s")
    assert night2.code == 1, night2.out  # the verdict's exit code: a MUST failed
    assert f"baseline e2e-night1: REGRESSED: 1 newly failing ({REGRESSING})" in night2.out, night2.out
    sealed = night2.document()["baseline"]
    assert [c["rule_id"] for c in sealed["newly_failing"]] == [REGRESSING]
    assert sealed["old"]["run_id"] == "e2e-night1" and sealed["regressed"] is True

    text = _cli("report", "diff", str(night1.report), str(night2.report))
    assert text.returncode == 1, text.stdout + text.stderr
    assert f"Newly failing (1)\n  {REGRESSING}  MUST  PASS → FAIL\n" in text.stdout, text.stdout
    assert "verdict core success → failure" in text.stdout and STEADY not in text.stdout
    data = json.loads(_cli("report", "diff", str(night1.report), str(night2.report), "--json").stdout)
    assert [c["rule_id"] for c in data["newly_failing"]] == [REGRESSING]
    # Item by item: the names the mutant accepts (some are still refused for another reason, e.g. empty).
    failed = [i["nodeid"] for r in night2.document()["rules"] if r["id"] == REGRESSING for i in r["items"]
              if i["status"] == "FAIL"]
    assert failed and [i["nodeid"] for i in data["newly_failing"][0]["items"]] == failed
    assert not data["new_errors"] and not data["fixed"]
    # The other way round, the mutant's run is the baseline and the rule is fixed: no regression.
    back = _cli("report", "diff", str(night2.report), str(night1.report))
    assert back.returncode == 0 and f"Fixed (1)\n  {REGRESSING}  MUST  FAIL → PASS" in back.stdout, back.stdout
    assert _cli("report", "verify", str(night2.report)).returncode == 0


def test_a_flaky_mutant_is_reported_flaky(env: SharedEnv, tmp_path: Path) -> None:
    run = run_at(env, tmp_path / "flaky", [f"FLAKY:{STEADY}"], [STEADY], "--rerun-failures", "2")
    print(f"\nrun at the flaky mutant with --rerun-failures 2: {run.seconds:.1f} s")
    # The pexec answer lost its NVCF-REQID in attempt 1 and kept it in attempt 2: a MUST failed sometimes.
    assert run.code == 1, run.out
    assert f"FLAKY: {STEADY} (counts as FAIL)" in run.out, run.out
    document = run.document()
    rule = next(r for r in document["rules"] if r["id"] == STEADY)
    assert rule["status"] == "FLAKY", rule
    item = rule["items"][0]
    assert item["counts_as"] == "FAIL"
    assert [(a["attempt"], a["status"]) for a in item["attempts"]] == [(1, "FAIL"), (2, "PASS")], item
    assert "NVCF-REQID" in item["attempts"][0]["message"]
    assert document["verdicts"]["core"]["verdict"] == "failure"
    assert [(a["attempt"], a["nodeids"]) for a in document["reruns"]["attempts"]] == [(2, [item["nodeid"]])]
    # The rerun was an attempt of its own: same run id, its own results, the run's charts (no second push).
    attempt = run.report / "results" / "attempt-2"
    assert json.loads((attempt / "run-meta.json").read_text())["run_id"] == "e2e-flaky"
    collected = [n for f in attempt.glob("collected-*.json") for ns in json.loads(f.read_text())["rules"].values()
                 for n in ns]
    assert collected == [item["nodeid"]]
    assert json.loads((attempt / "charts.json").read_text()) == json.loads(
        (run.report / "results" / "charts.json").read_text())
    assert {"results/reruns.json", "results/attempt-2/run-meta.json"} <= set(document["files"])
    assert _cli("report", "verify", str(run.report)).returncode == 0
    assert "FLAKY (1 of 2 attempts did not pass)" in (run.report / "junit.xml").read_text()
