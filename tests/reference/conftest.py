"""Servers for the reference tests: real uvicorn on 127.0.0.1, stopped after use."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ref_support import EchoDataPlane, Running, ScriptedDeployer, start_server


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """One server per module with a deployer that reaches ACTIVE quickly and an echoing data plane."""
    db = tmp_path_factory.mktemp("ref-api") / "nvcf.db"
    running = start_server(db, deployer=ScriptedDeployer(), data_plane=EchoDataPlane())
    yield running
    running.stop()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    """Start servers of one's own (e.g. to restart on the same database); all are stopped at the end."""
    started: list[Running] = []

    def start(db: Path | None = None, **kwargs: Any) -> Running:
        running = start_server(db or tmp_path / "nvcf.db", **kwargs)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
