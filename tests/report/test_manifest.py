"""The report folder's file manifest and `report verify`: a missing, edited or smuggled-in file is tampering,
and so is a YAML key given twice."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from report_fixtures import full_run

from conformance.cli import main
from conformance.report import digest, manifest, strict_yaml
from conformance.report.build import build_report

REPORT = "conformance-report.yaml"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report folder as `make conformance` leaves it: charts.json and inventory.txt were there first."""
    folder = tmp_path_factory.mktemp("run")
    (folder / "charts.json").write_text('{"charts": []}\n')
    (folder / "inventory.txt").write_text("KIND-FORBIDDEN MUST core\n")
    build_report(full_run(folder / "results"), folder)
    return folder


@pytest.fixture
def report(built: Path, tmp_path: Path) -> Path:
    """A fresh copy of the built report for each test to damage."""
    copy = tmp_path / "report"
    shutil.copytree(built, copy)
    return copy


def _verify(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["report", "verify", str(path), *extra])
    out, err = capsys.readouterr()
    return code, out, err


def _files_on_disk(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {REPORT}


def test_the_manifest_lists_every_other_file(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = digest.verify(built)
    listed = document["files"]
    assert set(listed) == _files_on_disk(built)
    for name in ("summary.html", "junit.xml", "charts.json", "inventory.txt", "results/run-meta.json",
                 "results/results-gw0.jsonl", "allure-results/environment.properties"):
        assert name in listed
    assert any(name.startswith("repro/") for name in listed)
    assert listed["junit.xml"] == manifest.entry((built / "junit.xml").read_bytes())
    code, out, err = _verify(built, capsys)
    assert code == 0 and out.startswith("ok: ") and f"{len(listed)} files" in out and err == ""


def test_a_rebuild_in_the_same_folder_verifies(report: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale_bundle = report / "repro" / "OLD-RULE__gone"
    stale_bundle.mkdir()
    (stale_bundle / "item.json").write_text("{}")
    (report / "summary.html.tmp").write_text("left by a build that was killed")
    build_report(report / "results", report)
    assert not stale_bundle.exists()
    assert _verify(report, capsys)[0] == 0


Damage = Callable[[Path], None]
TAMPERING: dict[str, tuple[Damage, str]] = {
    "results deleted": (lambda r: shutil.rmtree(r / "results"), "results/"),
    "junit.xml deleted": (lambda r: (r / "junit.xml").unlink(), "junit.xml is missing"),
    "repro deleted": (lambda r: shutil.rmtree(r / "repro"), "repro/"),
    "summary says success": (
        lambda r: (r / "summary.html").write_text((r / "summary.html").read_text().replace("failure", "success")),
        "summary.html was changed"),
    "inventory edited": (lambda r: (r / "inventory.txt").write_text("nothing\n"), "inventory.txt was changed"),
    "result smuggled in": (lambda r: (r / "results" / "results-gw9.jsonl").write_text("{}\n"),
                           "results/results-gw9.jsonl was added"),
    "bundle file added": (lambda r: (next((r / "repro").iterdir()) / "note.txt").write_text("x"), "was added"),
    "allure result added": (lambda r: (r / "allure-results" / "x-result.json").write_text("{}"), "was added"),
}


@pytest.mark.parametrize("name", list(TAMPERING))
def test_any_missing_changed_or_smuggled_file_is_tampering(report: Path, capsys: pytest.CaptureFixture[str],
                                                           name: str) -> None:
    damage, needle = TAMPERING[name]
    damage(report)
    code, out, err = _verify(report, capsys)
    assert code == 1 and out == ""
    assert err.startswith("TAMPERED: ") and err.count("\n") == 1, err
    assert needle in err and "in all)" in err


def test_the_line_names_the_first_problem_and_the_count(report: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (report / "junit.xml").unlink()
    (report / "summary.html").write_text("<p>success</p>")
    _, _, err = _verify(report / REPORT, capsys)
    assert err.strip() == f"TAMPERED: {report}: junit.xml is missing (2 problems in all)"


def test_an_added_note_beside_the_report_is_a_warning(report: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (report / "notes.txt").write_text("reviewed by QA")
    (report / "results" / ".DS_Store").write_bytes(b"\0")  # a file browser's litter is not even worth a warning
    code, out, err = _verify(report, capsys)
    assert code == 0 and out.startswith("ok: ")
    assert err.strip() == "warning: notes.txt is not part of the report (added after it was written)"


def test_yaml_only_checks_just_the_document(report: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.rmtree(report / "results")
    code, out, _ = _verify(report, capsys, "--yaml-only")
    assert code == 0 and "YAML only" in out


@pytest.mark.parametrize("added", [
    "verdicts:\n  core:\n    verdict: success\n",
    "certifiable: true\n",
])
def test_a_duplicate_top_level_key_is_tampering(report: Path, capsys: pytest.CaptureFixture[str], added: str) -> None:
    # PyYAML keeps the last value (the sealed one), so the digest holds; readers that keep the first see ours.
    path = report / REPORT
    path.write_text(added + path.read_text())
    code, _, err = _verify(report, capsys)
    assert code == 1
    key = added.split(":")[0]
    assert err.startswith("TAMPERED: ") and f"duplicate key '{key}' at line " in err and err.count("\n") == 1


def test_a_resealed_report_without_its_manifest_is_tampering(report: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = report / REPORT
    document = yaml.safe_load(path.read_text())
    del document["files"]
    path.write_text(digest.dump(digest.seal(document)))
    code, _, err = _verify(report, capsys)
    assert code == 1 and "no file manifest" in err


def test_an_edited_manifest_breaks_the_digest(report: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = report / REPORT
    (report / "summary.html").write_text("<p>success</p>")
    fixed = manifest.entry(b"<p>success</p>")
    text = path.read_text()
    document = yaml.safe_load(text)
    old = document["files"]["summary.html"]["sha256"]
    path.write_text(text.replace(old, fixed["sha256"]))
    code, _, err = _verify(report, capsys)
    assert code == 1 and "digest mismatch" in err


def test_unreadable_report_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _verify(tmp_path, capsys)[0] == 2


def test_strict_loader() -> None:
    assert strict_yaml.load("a: {b: 1, c: 2}\nd: [1, 2]\n") == {"a": {"b": 1, "c": 2}, "d": [1, 2]}
    # A merge key overriding a merged value is YAML's own mechanism, not a repeated key.
    assert strict_yaml.load("x: &x {k: 1}\ny: {<<: *x, k: 2}\n")["y"] == {"k": 2}
    with pytest.raises(strict_yaml.DuplicateKey, match="duplicate key 'k' at line 3"):
        strict_yaml.load("a:\n  k: 1\n  k: 2\n")
    with pytest.raises(yaml.YAMLError):
        strict_yaml.load("!!python/object:os.system {}\n")


def test_planned_manifest_matches_the_folder_after_writing(built: Path) -> None:
    assert digest.verify(built)["files"] == manifest.scan(built)
