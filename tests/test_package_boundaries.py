"""The harness and the reference are two programs that only meet over the NVCF API.

The harness (conformance/, suites/) must judge the reference as it judges any NVCF, so it never imports
it; the reference must stand alone (its own errors, paths, version and console script), so it never
imports the harness. Both may use the mini-service probe, which is a package of its own.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROBE = ROOT / "sample-charts" / "images" / "mini-service" / "mini_service"
FORBIDDEN = {
    "reference": ("conformance",),
    "conformance": ("reference",),
    "suites": ("reference",),
    "probe": ("conformance", "reference"),
}
FOLDERS = {"reference": ROOT / "reference", "conformance": ROOT / "conformance", "suites": ROOT / "suites",
           "probe": PROBE}


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """Every module a file imports: import statements, and importlib.import_module("…") with a literal."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            yield node.lineno, node.args[0].value


def crossings(area: str) -> list[str]:
    found = []
    for path in sorted(FOLDERS[area].rglob("*.py")):
        for line, module in imported_modules(path):
            if module.split(".")[0] in FORBIDDEN[area]:
                found.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return found


@pytest.mark.parametrize("area", sorted(FORBIDDEN))
def test_no_import_crosses_the_boundary(area: str) -> None:
    assert crossings(area) == []


def test_the_check_sees_a_crossing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom conformance.errors import ConfigError\n"
                   "import importlib\nimportlib.import_module('reference.cli')\n")
    assert [m for _, m in imported_modules(bad)] == ["os", "conformance.errors", "importlib", "reference.cli"]


def test_the_reference_runs_without_loading_the_harness() -> None:
    """Statically clean is not enough: nothing the server loads at start may pull the harness in."""
    script = (
        "import sys, json\n"
        "import reference.cli, reference.app, reference.backend, reference.backend.deploy.deployer, "
        "reference.backend.kwok.dataplane, reference.backend.invocation.grpc_proxy, reference.charts.pipeline\n"
        "reference.cli.build_parser()\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'conformance')))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    assert json.loads(done.stdout) == []


def test_the_reference_is_its_own_program() -> None:
    done = subprocess.run([sys.executable, "-m", "reference", "--version"], capture_output=True, text=True,
                          cwd=ROOT, check=False)
    assert done.returncode == 0 and done.stdout.startswith("nvcf-reference ")
    harness = subprocess.run([sys.executable, "-m", "conformance.cli", "reference", "serve"], capture_output=True,
                             text=True, cwd=ROOT, check=False)
    assert harness.returncode == 2 and "invalid choice: 'reference'" in harness.stderr
