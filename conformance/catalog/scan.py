"""Find which tests claim which rules, by reading the suites' syntax trees (never importing them).

Importing a suite would run its module-level code (fixtures, clients, environment look-ups); parsing
keeps `nvcf-conformance list` instant and side-effect free, and `ast` sees only real markers, not a
rule id mentioned in a docstring or comment.

Recognised forms, with one or more string ids:
    @pytest.mark.rule("ID")   @mark.rule("ID")   @rule("ID")      on a test function or class
    pytestmark = pytest.mark.rule("ID")   (or a list/tuple of marks)   for a whole module or class
    pytest.param(..., marks=pytest.mark.rule("ID"))   for one parametrisation
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RuleMarker:
    rule_id: str
    test: str  # pytest-style node id relative to the scanned root's parent, e.g. suites/test_x.py::test_y
    line: int


def _is_rule_marker(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id == "rule"
    # `pytest.mark.rule` and `mark.rule` both end in `<something named mark>.rule`.
    if isinstance(func, ast.Attribute) and func.attr == "rule":
        owner = func.value
        return (isinstance(owner, ast.Attribute) and owner.attr == "mark") or (
            isinstance(owner, ast.Name) and owner.id == "mark"
        )
    return False


def _rule_ids(call: ast.Call) -> list[str]:
    args = [*call.args, *(kw.value for kw in call.keywords if kw.arg in ("id", "rule_id"))]
    return [a.value for a in args if isinstance(a, ast.Constant) and isinstance(a.value, str)]


class _Collector(ast.NodeVisitor):
    def __init__(self, file_id: str) -> None:
        self.file_id = file_id
        self.scope: list[str] = []
        self.found: list[RuleMarker] = []

    def _node_id(self) -> str:
        return "::".join([self.file_id, *self.scope])

    def _visit_scope(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_FunctionDef = _visit_scope
    visit_AsyncFunctionDef = _visit_scope
    visit_ClassDef = _visit_scope

    def visit_Call(self, node: ast.Call) -> None:
        if _is_rule_marker(node.func):
            for rule_id in _rule_ids(node):
                self.found.append(RuleMarker(rule_id, self._node_id(), node.lineno))
        self.generic_visit(node)


def scan_file(path: Path, root: Path) -> list[RuleMarker]:
    """The rule markers in one Python file; a file that does not parse is reported on stderr and skipped."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError, OSError) as exc:
        print(f"nvcf-conformance: warning: cannot parse {path}: {exc}", file=sys.stderr)
        return []
    collector = _Collector(path.relative_to(root.parent).as_posix())
    collector.visit(tree)
    return collector.found


def scan_markers(suites: Path) -> list[RuleMarker]:
    """Every rule marker under `suites` (empty when the folder does not exist yet)."""
    if not suites.is_dir():
        return []
    found: list[RuleMarker] = []
    for path in sorted(suites.rglob("*.py")):
        if any(part.startswith(".") or part == "__pycache__" for part in path.relative_to(suites).parts):
            continue
        found.extend(scan_file(path, suites))
    return found


def tests_by_rule(suites: Path) -> dict[str, list[str]]:
    """Rule id -> the tests that claim it, in file order, without repeats."""
    result: dict[str, list[str]] = defaultdict(list)
    for marker in scan_markers(suites):
        if marker.test not in result[marker.rule_id]:
            result[marker.rule_id].append(marker.test)
    return dict(result)
