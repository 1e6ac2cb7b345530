"""The pytest command of a run: only the plugins the suites use are loaded, unless asked otherwise."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conformance.run.pytest_runner import AUTOLOAD_ENV, pytest_command, run_pytest

CHECK_ENV = "import os, sys; sys.exit(0 if os.environ.get('PYTEST_DISABLE_PLUGIN_AUTOLOAD') == '1' else 3)"


def _command() -> list[str]:
    return pytest_command(Path("suites"), plugin="conformance.plugin", run_id="r", results_dir=Path("out"),
                          settings=["nvcf.gateway=gw:80"], workers="2")


def test_suites_load_only_the_harness_plugin_and_xdist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(AUTOLOAD_ENV, raising=False)
    cmd = _command()
    assert cmd[cmd.index("-p") + 1] == "conformance.plugin" and "xdist.plugin" in cmd
    assert cmd[cmd.index("--set") + 1] == "nvcf.gateway=gw:80" and cmd[-2:] == ["-n", "2"]
    assert run_pytest([sys.executable, "-c", CHECK_ENV]).returncode == 0


def test_autoload_can_be_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(AUTOLOAD_ENV, "1")
    assert "xdist.plugin" not in _command()
    assert run_pytest([sys.executable, "-c", CHECK_ENV]).returncode == 3
