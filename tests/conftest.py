"""Fixtures shared by the project's own tests: real processes, started here and always stopped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.env.local_registry import LocalRegistry
from conformance.env.registry import RegistryEndpoint


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryEndpoint]:
    """A CNCF distribution registry with htpasswd auth on 127.0.0.1, for the whole session."""
    reg = LocalRegistry(tmp_path_factory.mktemp("registry"))
    try:
        yield reg.start()
    finally:
        reg.stop()


@pytest.fixture(scope="session")
def embedded_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """A full embedded environment (registry + KWOK cluster) in its own run folder."""
    from conformance.env import manager
    from conformance.env.config import EnvConfig

    home: Path = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NVCF_RUN_DIR", str(home))
        current = manager.up(EnvConfig(cluster_name="nvcf-test"))
        try:
            yield current
        finally:
            manager.down()
