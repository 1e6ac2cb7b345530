"""`run --rerun-failures N` and `run --baseline OLD` through the CLI, with the stand-in plugin of test_cli.py.

The suite's flaky test fails on its 1st, 3rd… call and passes on the others (a counter file), which is
what a flaky implementation looks like from the harness: the same item, another attempt, another answer.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from conformance.cli import main
from conformance.paths import ROOT

SUITE = '''
import os, pytest

def _calls(name):
    path = os.path.join(os.environ["CALLS_DIR"], name)
    count = int(open(path).read()) + 1 if os.path.exists(path) else 1
    open(path, "w").write(str(count))
    return count

@pytest.mark.rule("FN-CREATE-HELM")
def test_passes():
    _calls("passes")

@pytest.mark.rule("INVOKE-PEXEC-ANSWER")
def test_flaky():
    assert _calls("flaky") % 2 == 0, "the pexec answer carries no NVCF-REQID header"

@pytest.mark.rule("KIND-FORBIDDEN")
def test_always_fails():
    _calls("always")
    assert False, "DaemonSet reached ACTIVE"

@pytest.mark.rule("OBJECTS-MAX-300-ACCEPTED")
def test_errors_then_passes():
    if _calls("errors") == 1:
        raise ConnectionError("target unreachable")
'''


@pytest.fixture
def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    plugin_dir = tmp_path / "plugin"
    plugin_dir.mkdir()
    name = f"fake_rerun_plugin_{os.getpid()}"
    shutil.copy(Path(__file__).with_name("fake_plugin_src.py"), plugin_dir / f"{name}.py")
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "test_fake.py").write_text(SUITE)
    (tmp_path / "calls").mkdir()
    monkeypatch.syspath_prepend(str(plugin_dir))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(plugin_dir), str(ROOT)]))
    monkeypatch.setenv("NVCF_SUITES_DIR", str(suites))
    monkeypatch.setenv("NVCF_PYTEST_PLUGIN", name)
    monkeypatch.setenv("NVCF_NO_PREFLIGHT", "1")
    monkeypatch.setenv("CALLS_DIR", str(tmp_path / "calls"))
    return tmp_path


def _calls(tmp: Path, name: str) -> int:
    return int((tmp / "calls" / name).read_text())


def _rule(document: dict, rule_id: str) -> dict:
    return next(r for r in document["rules"] if r["id"] == rule_id)


def test_reruns_make_flaky_and_keep_steady_failures(harness: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = harness / "report"
    code = main(["run", "--run-id", "t1", "--report-dir", str(report), "--rerun-failures", "2",
                 "--rule", "FN-CREATE-HELM", "--rule", "INVOKE-PEXEC-ANSWER", "--rule", "KIND-FORBIDDEN"])
    assert code == 1  # KIND-FORBIDDEN failed every time; INVOKE-PEXEC-ANSWER failed once: both MUST failures
    out = capsys.readouterr().out
    assert "FLAKY: INVOKE-PEXEC-ANSWER (counts as FAIL)" in out and "failed every attempt: KIND-FORBIDDEN" in out
    # Only the failed items were rerun; the flaky one until it passed, the steady one twice.
    assert (_calls(harness, "passes"), _calls(harness, "flaky"), _calls(harness, "always")) == (1, 2, 3)
    document = yaml.safe_load((report / "conformance-report.yaml").read_text())
    flaky = _rule(document, "INVOKE-PEXEC-ANSWER")
    assert flaky["status"] == "FLAKY" and flaky["items"][0]["counts_as"] == "FAIL"
    assert [(a["attempt"], a["status"]) for a in flaky["items"][0]["attempts"]] == [(1, "FAIL"), (2, "PASS")]
    steady = _rule(document, "KIND-FORBIDDEN")
    assert steady["status"] == "FAIL" and [a["status"] for a in steady["items"][0]["attempts"]] == ["FAIL"] * 3
    assert [(a["attempt"], len(a["nodeids"])) for a in document["reruns"]["attempts"]] == [(2, 2), (3, 1)]
    assert document["verdicts"]["core"]["verdict"] == "failure"
    # Each attempt wrote a results folder of its own, under the same run id; all are in the manifest.
    for attempt in ("attempt-2", "attempt-3"):
        meta = json.loads((report / "results" / attempt / "run-meta.json").read_text())
        assert meta["run_id"] == "t1"
        assert f"results/{attempt}/run-meta.json" in document["files"]
    assert main(["report", "verify", str(report)]) == 0
    junit = (report / "junit.xml").read_text()
    assert "FLAKY (1 of 2 attempts did not pass)" in junit and "<rerunFailure" in junit
    # A rebuild from the results folder gives the same FLAKY.
    assert main(["report", "build", str(report / "results")]) == 1
    assert _rule(yaml.safe_load((report / "conformance-report.yaml").read_text()),
                 "INVOKE-PEXEC-ANSWER")["status"] == "FLAKY"


def test_errors_and_passes_are_flaky_without_a_verdict(harness: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = harness / "report"
    code = main(["run", "--run-id", "t2", "--report-dir", str(report), "--rerun-failures", "1",
                 "--rule", "FN-CREATE-HELM", "--rule", "OBJECTS-MAX-300-ACCEPTED"])
    assert code == 2
    document = yaml.safe_load((report / "conformance-report.yaml").read_text())
    item = _rule(document, "OBJECTS-MAX-300-ACCEPTED")["items"][0]
    assert item["status"] == "FLAKY" and item["counts_as"] == "ERROR"
    assert document["verdicts"]["core"]["verdict"] == "error"
    assert "FLAKY: OBJECTS-MAX-300-ACCEPTED (counts as ERROR)" in capsys.readouterr().out


def test_nothing_to_rerun_and_a_reused_folder(harness: Path) -> None:
    report = harness / "report"
    assert main(["run", "--run-id", "t3", "--report-dir", str(report), "--rerun-failures", "2",
                 "--rule", "INVOKE-PEXEC-ANSWER"]) == 1
    assert (report / "results" / "attempt-2").is_dir()
    # The same folder again, with nothing failing: no attempt is made, and the old attempts are gone.
    assert main(["run", "--run-id", "t4", "--report-dir", str(report), "--rule", "FN-CREATE-HELM",
                 "--rerun-failures", "2"]) == 0
    document = yaml.safe_load((report / "conformance-report.yaml").read_text())
    assert document["reruns"] == {"requested": 2, "attempts": []}
    assert not (report / "results" / "attempt-2").exists()


def test_baseline_adds_a_diff_and_keeps_the_exit_code(harness: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = harness / "old", harness / "new"
    assert main(["run", "--run-id", "night-1", "--report-dir", str(old), "--rule", "FN-CREATE-HELM"]) == 0
    capsys.readouterr()
    code = main(["run", "--run-id", "night-2", "--report-dir", str(new), "--baseline", str(old),
                 "--rule", "FN-CREATE-HELM", "--rule", "KIND-FORBIDDEN"])
    assert code == 1  # the verdict's (a MUST failed), not the diff's
    out = capsys.readouterr().out
    # KIND-FORBIDDEN did not run before: nothing to compare it with, so no regression, but said.
    assert ("baseline night-1: no regression: 1 rule with results only in NEW, verdict core success → failure"
            in out)
    document = yaml.safe_load((new / "conformance-report.yaml").read_text())
    assert document["baseline"]["old"]["run_id"] == "night-1"
    assert document["baseline"]["only_in_new"] == ["KIND-FORBIDDEN"]
    assert main(["report", "verify", str(new)]) == 0  # the diff is inside the digest
    assert "Compared with run" in (new / "summary.html").read_text()
    # Now a run where a rule that passed fails.
    capsys.readouterr()
    suite = harness / "suites" / "test_fake.py"
    suite.write_text(suite.read_text().replace('    _calls("passes")', '    assert False, "create refused"'))
    assert main(["run", "--run-id", "night-3", "--report-dir", str(harness / "n3"), "--baseline",
                 str(old / "conformance-report.yaml"), "--rule", "FN-CREATE-HELM"]) == 1
    assert ("baseline night-1: REGRESSED: 1 newly failing (FN-CREATE-HELM), verdict core success → failure"
            in capsys.readouterr().out)
    assert main(["report", "diff", str(old), str(harness / "n3")]) == 1


def test_a_tampered_baseline_stops_the_run_first(harness: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = harness / "old"
    assert main(["run", "--run-id", "night-1", "--report-dir", str(old), "--rule", "FN-CREATE-HELM"]) == 0
    yaml_file = old / "conformance-report.yaml"
    yaml_file.write_text(yaml_file.read_text().replace("status: PASS", "status: FAIL", 1))
    capsys.readouterr()
    new = harness / "new"
    assert main(["run", "--report-dir", str(new), "--baseline", str(old), "--rule", "FN-CREATE-HELM"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"nvcf-conformance: error: --baseline: TAMPERED: {yaml_file}: digest mismatch: the report was "
                   "changed after it was written; a changed report cannot be compared"]
    assert not new.exists()  # refused before anything ran
