"""`nvcf-conformance list`, driven through the real command-line entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.catalog import load_catalog
from conformance.cli import main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["list", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def empty_suites(tmp_path: Path) -> Path:
    return tmp_path / "suites"  # absent on purpose: the suites are written after the catalog


def test_table_lists_every_rule(capsys: pytest.CaptureFixture[str], empty_suites: Path) -> None:
    catalog = load_catalog()
    code, out, _ = _run(capsys, "--suites", str(empty_suites))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "LEVEL", "PROFILES", "CHARTS", "TESTS"]
    listed = [line.split()[0] for line in lines[1 : len(catalog) + 1]]
    assert listed == list(catalog.ids())
    # Without suites every rule is visibly untested.
    assert all(line.rstrip().endswith("-") for line in lines[1 : len(catalog) + 1])
    levels = {lvl: len(catalog.by_level(lvl)) for lvl in ("MUST", "SHOULD", "EXT")}
    summary = (
        f"{len(catalog)} rules (MUST {levels['MUST']}, SHOULD {levels['SHOULD']}, EXT {levels['EXT']}), "
        f"{len(catalog.cases())} charts, {len(catalog)} rules without tests"
    )
    assert summary in out


def test_json_lists_every_rule(capsys: pytest.CaptureFixture[str], empty_suites: Path) -> None:
    catalog = load_catalog()
    code, out, _ = _run(capsys, "--json", "--suites", str(empty_suites))
    assert code == 0
    document = json.loads(out)
    assert [r["id"] for r in document["rules"]] == list(catalog.ids())
    first = document["rules"][0]
    assert set(first) >= {"id", "level", "profiles", "doc", "statement", "outcomes", "charts", "tests"}
    assert document["summary"]["rules"] == len(catalog)
    assert len(document["summary"]["rules_without_tests"]) == len(catalog)
    assert document["suites"] is None
    assert set(document["vocabulary"]["outcomes"]) >= {o for r in catalog for o in r.outcomes}


def test_shipped_suites_folder_is_scanned_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--json")
    assert code == 0
    assert len(json.loads(out)["rules"]) == len(load_catalog())


def test_filters(capsys: pytest.CaptureFixture[str], empty_suites: Path) -> None:
    catalog = load_catalog()
    _, out, _ = _run(capsys, "--json", "--level", "ext", "--suites", str(empty_suites))
    assert {r["id"] for r in json.loads(out)["rules"]} == {r.id for r in catalog.by_level("EXT")}
    _, out, _ = _run(capsys, "--json", "--profile", "grpc", "--level", "MUST", "--suites", str(empty_suites))
    expected = {r.id for r in catalog.by_profile("grpc") if r.level == "MUST"}
    assert {r["id"] for r in json.loads(out)["rules"]} == expected
    _, out, _ = _run(capsys, "--profile", "multinode", "--suites", str(empty_suites))
    assert "MULTINODE-PLACEMENT" in out and "KIND-ALLOWED" not in out


def test_tests_found_in_suites_are_shown(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "test_kinds.py").write_text(
        'import pytest\n\n@pytest.mark.rule("KIND-ALLOWED")\ndef test_allowed():\n    pass\n\n'
        '@pytest.mark.rule("NOT-IN-CATALOG")\ndef test_stray():\n    pass\n',
        encoding="utf-8",
    )
    _, out, _ = _run(capsys, "--suites", str(suites))
    row = next(line for line in out.splitlines() if line.startswith("KIND-ALLOWED "))
    assert row.endswith("test_kinds.py::test_allowed")
    assert f"{len(load_catalog()) - 1} rules without tests" in out
    assert "NOT-IN-CATALOG" in out
    _, out, _ = _run(capsys, "--json", "--suites", str(suites))
    document = json.loads(out)
    kind = next(r for r in document["rules"] if r["id"] == "KIND-ALLOWED")
    assert kind["tests"] == ["suites/test_kinds.py::test_allowed"]
    assert document["summary"]["unknown_rule_ids_in_tests"] == ["NOT-IN-CATALOG"]


def test_malformed_catalog_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text("version: 1\nrules:\n  - id: X-Y\n    level: MAY\n", encoding="utf-8")
    code, out, err = _run(capsys, "--catalog", str(bad))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert str(bad) in err and "rules[0] (X-Y)" in err


def test_list_needs_none_of_the_run_or_reference_dependencies() -> None:
    """`nvcf-conformance list` imports only its own area: it works where bcrypt or the server stack is absent."""
    import subprocess
    import sys

    blocked = ("bcrypt", "fastapi", "uvicorn", "kubernetes", "grpc", "httpx", "testcontainers")
    code = (
        "import sys\n"
        f"for m in {blocked!r}: sys.modules[m] = None\n"
        "from conformance.cli import main\n"
        "code = main(['list', '--level', 'MUST'])\n"
        "sys.exit(code or main(['list', 'GRPC-INVOCATION']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "MUST" in done.stdout and "mutant:" in done.stdout
