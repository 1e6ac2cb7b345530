"""Fixtures of the harness's own tests: a fake NVCF on 127.0.0.1 and targets pointing at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_nvcf import FakeNvcf
from harness_support import target_for

from conformance.target.config import TargetConfig


@pytest.fixture
def fake() -> Iterator[FakeNvcf]:
    server = FakeNvcf().start()
    yield server
    server.stop()


@pytest.fixture
def fake_target(fake: FakeNvcf) -> TargetConfig:
    return target_for(fake.address)
