"""`nvcf-conformance run | report build | report verify | repro`, end to end with a stand-in plugin.

The suites here are a temporary folder and the plugin is tests/report/fake_plugin_src.py copied under a
unique module name: nothing depends on the real plugin or suites being finished.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from report_fixtures import full_run

from conformance.cli import main
from conformance.paths import ROOT

SUITE = '''
import os, time, pytest

@pytest.mark.rule("FN-CREATE-HELM")
def test_passes():
    pass

@pytest.mark.rule("KIND-FORBIDDEN")
def test_must_fails():
    assert False, "DaemonSet reached ACTIVE"

@pytest.mark.rule("CHART-VERSION-DASH-REFUSED")
def test_should_fails():
    assert False, "refusal does not name the version"

@pytest.mark.rule("OBJECTS-MAX-300-ACCEPTED")
def test_errors():
    raise ConnectionError("target unreachable")

@pytest.mark.rule("LIFECYCLE-DEPLOY")
@pytest.mark.parametrize("speed", ["fast", "slow"])
def test_slow(speed):
    if speed == "slow":
        open(os.environ["SLOW_STARTED"], "w").close()
        time.sleep(60)
'''


@pytest.fixture
def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path | str]:
    plugin_dir = tmp_path / "plugin"
    plugin_dir.mkdir()
    name = f"fake_conformance_plugin_{os.getpid()}"
    shutil.copy(Path(__file__).with_name("fake_plugin_src.py"), plugin_dir / f"{name}.py")
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "test_fake.py").write_text(SUITE)
    monkeypatch.syspath_prepend(str(plugin_dir))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(plugin_dir), str(ROOT)]))
    monkeypatch.setenv("NVCF_SUITES_DIR", str(suites))
    monkeypatch.setenv("NVCF_PYTEST_PLUGIN", name)
    monkeypatch.setenv("NVCF_NO_PREFLIGHT", "1")  # a stand-in plugin and suites: there is no target to check
    monkeypatch.setenv("SLOW_STARTED", str(tmp_path / "slow-started"))
    monkeypatch.setenv("NVCF_REPORTS_DIR", str(tmp_path / "reports"))
    return {"tmp": tmp_path, "suites": suites, "plugin": name}


def _run(tmp: Path, *args: str) -> tuple[int, Path]:
    report_dir = tmp / "reports" / f"r{len(list((tmp / 'reports').glob('*'))) if (tmp / 'reports').exists() else 0}"
    code = main(["run", "--run-id", "t1", "--report-dir", str(report_dir), *args])
    return code, report_dir


def test_pass_is_exit_0(harness, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = _run(harness["tmp"], "--rule", "FN-CREATE-HELM")
    assert code == 0
    out = capsys.readouterr().out
    assert "core" in out and "success" in out and "summary.html" in out
    for name in ("conformance-report.yaml", "junit.xml", "summary.html", "results/run-meta.json"):
        assert (report / name).is_file()
    assert main(["report", "verify", str(report)]) == 0


def test_must_failure_is_exit_1(harness) -> None:
    code, report = _run(harness["tmp"], "--rule", "KIND-FORBIDDEN", "--rule", "FN-CREATE-HELM")
    assert code == 1
    document = yaml.safe_load((report / "conformance-report.yaml").read_text())
    assert document["verdicts"]["core"]["verdict"] == "failure"
    assert document["selection"]["rules"] == ["KIND-FORBIDDEN", "FN-CREATE-HELM"]
    bundles = list((report / "repro").iterdir())
    assert [b.name for b in bundles] == ["KIND-FORBIDDEN__kind-forbidden-daemonset"]


def test_should_failure_is_partial_exit_0(harness) -> None:
    code, report = _run(harness["tmp"], "--rule", "CHART-VERSION-DASH-REFUSED")
    assert code == 0
    assert yaml.safe_load((report / "conformance-report.yaml").read_text())["verdicts"]["core"]["verdict"] == "partial"


def test_error_is_exit_2(harness) -> None:
    code, _ = _run(harness["tmp"], "--rule", "OBJECTS-MAX-300-ACCEPTED", "--rule", "FN-CREATE-HELM")
    assert code == 2


def test_nothing_collected_is_exit_2(harness) -> None:
    code, report = _run(harness["tmp"], "--rule", "VOL-ALLOWED")
    assert code == 2
    document = yaml.safe_load((report / "conformance-report.yaml").read_text())
    assert any("no tests were collected" in r for r in document["incomplete_reasons"])


def test_pytest_usage_error_is_exit_2(harness) -> None:
    code, _ = _run(harness["tmp"], "--rule", "FN-CREATE-HELM", "--", "--no-such-pytest-option")
    assert code == 2


def test_extra_pytest_args_pass_through(harness) -> None:
    code, report = _run(harness["tmp"], "--rule", "FN-CREATE-HELM", "--rule", "KIND-FORBIDDEN", "--", "-k", "passes")
    # -k reached pytest and dropped the failing test; a selected rule left without a result is no verdict,
    # so pytest options cannot be used to hide a failure.
    assert code == 2
    document = yaml.safe_load((report / "conformance-report.yaml").read_text())
    assert document["verdicts"]["core"]["reasons"] == ["no result for: KIND-FORBIDDEN"]


def test_missing_target_config_is_exit_2(harness, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--target-config", str(harness["tmp"] / "nope.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_missing_suites_or_plugin_is_exit_2(harness, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NVCF_SUITES_DIR", str(harness["tmp"] / "no-suites"))
    assert main(["run"]) == 2
    assert "suites are not there" in capsys.readouterr().err
    monkeypatch.setenv("NVCF_SUITES_DIR", str(harness["suites"]))
    monkeypatch.setenv("NVCF_PYTEST_PLUGIN", "no_such_plugin_module_xyz")
    assert main(["run"]) == 2
    assert "plugin" in capsys.readouterr().err


def test_xdist_workers_merge(harness) -> None:
    code, report = _run(harness["tmp"], "-n", "2", "--rule", "FN-CREATE-HELM", "--rule", "KIND-FORBIDDEN")
    assert code == 1
    assert sorted(p.name for p in (report / "results").glob("results-*.jsonl")) == [
        "results-gw0.jsonl", "results-gw1.jsonl"]


def test_ctrl_c_writes_an_incomplete_report(harness) -> None:
    tmp: Path = harness["tmp"]  # type: ignore[assignment]
    report = tmp / "reports" / "interrupted"
    proc = subprocess.Popen([sys.executable, "-m", "conformance.cli", "run", "--run-id", "t2", "--report-dir",
                             str(report), "--rule", "FN-CREATE-HELM", "--rule", "LIFECYCLE-DEPLOY"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (tmp / "slow-started").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, (out, err)
    document = yaml.safe_load((report / "conformance-report.yaml").read_text())
    assert document["complete"] is False
    assert all(v["verdict"] != "success" for v in document["verdicts"].values())
    assert "interrupted" in err
    # One of LIFECYCLE-DEPLOY's two items passed before Ctrl-C: that is not the rule passing.
    rule = next(r for r in document["rules"] if r["id"] == "LIFECYCLE-DEPLOY")
    assert rule["status"] == "INCOMPLETE" and rule["unreported_items"][0].endswith("test_fake.py::test_slow[slow]")
    assert "INCOMPLETE rule(s), not every item ran: LIFECYCLE-DEPLOY" in out
    assert main(["report", "verify", str(report)]) == 0


def test_report_build_and_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = full_run(tmp_path / "run" / "results")
    assert main(["report", "build", str(results)]) == 1
    report = tmp_path / "run" / "conformance-report.yaml"
    assert report.is_file() and (tmp_path / "run" / "summary.html").is_file()
    capsys.readouterr()
    assert main(["report", "verify", str(report)]) == 0
    assert capsys.readouterr().out.startswith("ok: ")
    report.write_text(report.read_text().replace("verdict: failure", "verdict: success"))
    assert main(["report", "verify", str(report)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("TAMPERED:") and "\n" not in err
    assert main(["report", "verify", str(tmp_path / "nothing.yaml")]) == 2


def test_report_build_reads_the_selection_the_run_recorded(tmp_path: Path) -> None:
    results = full_run(tmp_path / "results")
    meta = results / "run-meta.json"
    import json

    data = json.loads(meta.read_text())
    # The command is for people; the selection is the recorded fact, read back as written.
    data["command"] = "pytest suites --rule SOMETHING-ELSE"
    data["selection"] = {"rules": ["KIND-FORBIDDEN"], "cases": ["kind-forbidden-daemonset"]}
    meta.write_text(json.dumps(data))
    assert main(["report", "build", str(results), "--out", str(tmp_path / "out")]) == 1
    document = yaml.safe_load((tmp_path / "out" / "conformance-report.yaml").read_text())
    assert document["selection"] == {"rules": ["KIND-FORBIDDEN"], "cases": ["kind-forbidden-daemonset"]}
    assert list(document["verdicts"]) == ["core"]


def test_repro_reruns_the_bundle(harness) -> None:
    tmp: Path = harness["tmp"]  # type: ignore[assignment]
    code, report = _run(tmp, "--rule", "KIND-FORBIDDEN")
    assert code == 1
    bundle = next((report / "repro").iterdir())
    config = tmp / "other-target.yaml"
    config.write_text("gateway: https://other.example.test\n")
    rerun_dir = tmp / "rerun"
    assert main(["repro", str(bundle), "--target-config", str(config), "--report-dir", str(rerun_dir)]) == 1
    document = yaml.safe_load((rerun_dir / "conformance-report.yaml").read_text())
    assert document["selection"]["rules"] == ["KIND-FORBIDDEN"]
    assert document["config"]["config"] == str(config)
    assert main(["repro", str(tmp)]) == 2  # not a bundle


def test_a_reused_report_folder_starts_clean(tmp_path: Path) -> None:
    from conformance.report.load import META_FILE
    from conformance.run.cli import CHARTS_FILE, _clear_results

    results = tmp_path / "results"
    results.mkdir()
    stale = [results / "results-gw0.jsonl", results / META_FILE, results / CHARTS_FILE]
    for path in stale:
        path.write_text("{}")
    keep = results / "notes.txt"
    keep.write_text("not ours")
    _clear_results(results)
    assert [p for p in stale if p.exists()] == [] and keep.exists()
