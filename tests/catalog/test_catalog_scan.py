"""Finding tests by their rule markers, from syntax trees."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from conformance.catalog import scan

SUITE = '''
"""Mentions KIND-IN-DOCSTRING but marks nothing."""
import pytest
from pytest import mark
from conformance.plugin import rule

pytestmark = [pytest.mark.env, pytest.mark.rule("MODULE-WIDE")]

# pytest.mark.rule("IN-COMMENT") does not count
TEXT = 'pytest.mark.rule("IN-STRING")'


@pytest.mark.rule("KIND-ALLOWED")
@pytest.mark.parametrize("case", ["a", "b"])
def test_allowed(case):
    pass


@rule("BARE-DECORATOR", "SECOND-ID")
async def test_bare():
    pass


class TestGroup:
    pytestmark = mark.rule("CLASS-WIDE")

    @mark.rule(id="KEYWORD-ID")
    def test_inner(self):
        pass


@pytest.mark.parametrize(
    "x", [pytest.param(1, marks=pytest.mark.rule("PARAM-LEVEL")), 2]
)
def test_params(x):
    pass


@pytest.mark.rule(RULE_ID_VARIABLE)
def test_dynamic():
    pass
'''


@pytest.fixture
def suites(tmp_path: Path) -> Path:
    root = tmp_path / "suites"
    (root / "kinds").mkdir(parents=True)
    (root / "kinds" / "test_kinds.py").write_text(textwrap.dedent(SUITE), encoding="utf-8")
    (root / "test_also.py").write_text('@rule("KIND-ALLOWED")\ndef test_again():\n    pass\n', encoding="utf-8")
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "test_cached.py").write_text('@rule("CACHED")\ndef t(): pass\n', encoding="utf-8")
    return root


def test_all_marker_forms_are_found(suites: Path) -> None:
    found = scan.tests_by_rule(suites)
    assert set(found) == {
        "MODULE-WIDE",
        "KIND-ALLOWED",
        "BARE-DECORATOR",
        "SECOND-ID",
        "CLASS-WIDE",
        "KEYWORD-ID",
        "PARAM-LEVEL",
    }
    assert found["KIND-ALLOWED"] == ["suites/kinds/test_kinds.py::test_allowed", "suites/test_also.py::test_again"]
    assert found["MODULE-WIDE"] == ["suites/kinds/test_kinds.py"]
    assert found["CLASS-WIDE"] == ["suites/kinds/test_kinds.py::TestGroup"]
    assert found["KEYWORD-ID"] == ["suites/kinds/test_kinds.py::TestGroup::test_inner"]
    assert found["PARAM-LEVEL"] == ["suites/kinds/test_kinds.py::test_params"]


def test_text_mentions_are_not_markers(suites: Path) -> None:
    found = scan.tests_by_rule(suites)
    for not_a_marker in ("KIND-IN-DOCSTRING", "IN-COMMENT", "IN-STRING", "CACHED"):
        assert not_a_marker not in found


def test_markers_carry_lines(suites: Path) -> None:
    markers = [m for m in scan.scan_markers(suites) if m.rule_id == "BARE-DECORATOR"]
    assert len(markers) == 1 and markers[0].line > 1


def test_missing_suites_folder_is_empty(tmp_path: Path) -> None:
    assert scan.tests_by_rule(tmp_path / "suites") == {}


def test_unparsable_file_is_skipped_with_a_warning(suites: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (suites / "test_broken.py").write_text("def test_(:\n", encoding="utf-8")
    found = scan.tests_by_rule(suites)
    assert "KIND-ALLOWED" in found
    assert "test_broken.py" in capsys.readouterr().err


def test_a_test_with_one_case_takes_the_chart_fixture() -> None:
    """A test marked with one case gets its chart from `chart`, not by spelling the case again."""
    import ast

    from conformance.paths import ROOT

    offenders = []
    for path in sorted((ROOT / "suites").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            cases = {d.args[0].value for d in node.decorator_list
                     if isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr == "case"
                     and d.args and isinstance(d.args[0], ast.Constant)}
            spelled = {s.slice.value for s in ast.walk(node)
                       if isinstance(s, ast.Subscript) and isinstance(s.value, ast.Name) and s.value.id == "charts"
                       and isinstance(s.slice, ast.Constant)}
            if cases & spelled:
                offenders.append(f"{path.name}::{node.name}")
    assert offenders == []
