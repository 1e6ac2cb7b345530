"""Constants and helpers the harness's own tests import (a module of its own: every test folder has a
`conftest.py`, so `from conftest import …` would pick whichever folder came first)."""

from __future__ import annotations

from conformance.target.config import TargetConfig, load_target

TOKEN = "tok-harness-test-51c0f3a9d2"
API_KEY = "key-harness-test-7be2049c1a"
REGISTRY_PASSWORD = "regpass-harness-test-33ad90"


def target_for(address: str, *, registry: bool = True, **extra: object) -> TargetConfig:
    """A target at the fake NVCF; `registry=False` names no registry (nothing to ask about set-up faults)."""
    overrides = {
        "nvcf.gateway": address, "nvcf.token": TOKEN, "nvcf.api_key": API_KEY,
        "timeouts.poll_interval": 0.01, "timeouts.deploy_active": 2, "timeouts.deploy_error": 2,
        "timeouts.undeploy": 2, **extra,
    }
    if registry:
        overrides |= {"registry.address": "127.0.0.1:5999", "registry.username": "u",
                      "registry.password": REGISTRY_PASSWORD}
    return load_target(environ={}, overrides=overrides)
