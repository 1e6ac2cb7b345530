"""Fixtures of the harness's own tests: a fake NVCF on 127.0.0.1 and targets pointing at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _pytest.pytester import Pytester
from fake_nvcf import FakeNvcf

from conformance.target.config import TargetConfig, load_target

TOKEN = "tok-harness-test-51c0f3a9d2"
API_KEY = "key-harness-test-7be2049c1a"
REGISTRY_PASSWORD = "regpass-harness-test-33ad90"



@pytest.fixture
def pytester(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
             monkeypatch: pytest.MonkeyPatch) -> Pytester:
    """pytest's own `pytester`, built here: `pytest_plugins` is only honoured in the top-level conftest,
    so the option pytester's plugin would register (`--runpytest`) is answered here too."""
    config = request.config
    original = config.getoption

    def getoption(name: str, *args: object, **kwargs: object) -> object:
        return "inprocess" if name in ("--runpytest", "runpytest") else original(name, *args, **kwargs)

    monkeypatch.setattr(config, "getoption", getoption)
    return Pytester(request, tmp_path_factory, monkeypatch, _ispytest=True)


@pytest.fixture
def fake() -> Iterator[FakeNvcf]:
    server = FakeNvcf().start()
    yield server
    server.stop()


def target_for(address: str, **extra: object) -> TargetConfig:
    overrides = {
        "nvcf.gateway": address, "nvcf.token": TOKEN, "nvcf.api_key": API_KEY,
        "registry.address": "127.0.0.1:5999", "registry.username": "u", "registry.password": REGISTRY_PASSWORD,
        "timeouts.poll_interval": 0.01, "timeouts.deploy_active": 2, "timeouts.deploy_error": 2,
        "timeouts.undeploy": 2, **extra,
    }
    return load_target(environ={}, overrides=overrides)


@pytest.fixture
def fake_target(fake: FakeNvcf) -> TargetConfig:
    return target_for(fake.address)
