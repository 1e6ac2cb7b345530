"""Fixtures of the harness's own tests: a fake NVCF on 127.0.0.1, targets pointing at it, and a real
reference server (API only, no cluster) as a separate process."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fake_nvcf import FakeNvcf

from conformance.paths import ROOT


@pytest.fixture
def fake() -> Iterator[FakeNvcf]:
    server = FakeNvcf().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("reference")
    state = home / "state.json"
    cmd = [sys.executable, "-m", "reference", "serve", "--port", "0", "--db", str(home / "nvcf.db"),
           "--tokens-file", str(home / "tokens.json"), "--state-file", str(state), "--log-file", str(home / "ref.log"),
           # NVIDIA's layout: the API host has no pexec, the invocation host serves it.
           "--no-pexec-on-api-host"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not state.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.stderr else ""
                pytest.fail(f"the reference server did not start: {err[-500:]}")
            time.sleep(0.1)
        info = json.loads(state.read_text())
        tokens = json.loads((home / "tokens.json").read_text())["tokens"]
        info["token"] = next(t for t, v in tokens.items() if v["name"] == "admin")
        info["api_key"] = next(t for t, v in tokens.items() if v["name"] == "api-key")
        info["home"] = home
        yield info
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
