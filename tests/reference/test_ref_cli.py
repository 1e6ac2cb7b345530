"""`nvcf-reference serve` as a user runs it: a real process, its log, its files."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from reference.cli import main
from reference.config import parse_violations
from reference.errors import ConfigError


def _wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the server exited early with {proc.returncode}")
        if time.monotonic() > deadline:
            raise AssertionError("the server did not write its state file")
        time.sleep(0.05)
    data: dict[str, object] = json.loads(path.read_text())
    return data


def test_serve_generates_tokens_and_never_logs_them(tmp_path: Path) -> None:
    tokens_file = tmp_path / "secrets" / "tokens.json"
    state_file = tmp_path / "state.json"
    log_file = tmp_path / "server.log"
    env = {**os.environ, "NVCF_RUN_DIR": str(tmp_path / "run")}
    cmd = [sys.executable, "-m", "reference", "serve", "--port", "0",
           "--db", str(tmp_path / "nvcf.db"), "--tokens-file", str(tokens_file), "--state-file", str(state_file),
           "--gateway-domain", "gw.test", "--violate", "KIND-FORBIDDEN,vol-allowed", "--log-level", "debug"]
    with log_file.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    secret_value = "secret-value-3d1f"
    wrong = "wrong-token-9a8b7c"
    try:
        state = _wait_for(state_file, proc)
        assert stat.S_IMODE(tokens_file.stat().st_mode) == 0o600
        tokens = json.loads(tokens_file.read_text())["tokens"]
        admin = next(tok for tok, entry in tokens.items() if entry["name"] == "admin")
        api_key = next(tok for tok, entry in tokens.items() if entry["name"] == "api-key")
        with httpx.Client(base_url=str(state["url"]), timeout=10) as client:
            assert client.get("/health").status_code == 200
            auth = {"Authorization": f"Bearer {admin}"}
            assert client.get("/v2/nvcf/functions", headers=auth).status_code == 200
            assert client.get("/v2/nvcf/functions", headers={"Authorization": f"Bearer {wrong}"}).status_code == 401
            body = {"name": "logged", "inferenceUrl": "/echo", "containerImage": "registry.test/echo:1",
                    "secrets": [{"name": "S", "value": secret_value}]}
            assert client.post("/v2/nvcf/functions", json=body, headers=auth).status_code == 200
            r = client.get("/x", headers={"Authorization": f"Bearer {api_key}", "Host": "f.invocation.gw.test",
                                          "Cookie": "session=cookie-secret-42"})
            assert r.status_code == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    # uvicorn shuts down gracefully, then re-raises the signal so the exit status tells it was stopped.
    assert proc.returncode in (0, -signal.SIGTERM)
    text = log_file.read_text()
    assert "Application shutdown complete" in text
    # The requests were logged, with the credential headers redacted.
    assert "GET /v2/nvcf/functions -> 200" in text
    assert "GET /v2/nvcf/functions -> 401" in text
    assert "Bearer <redacted>" in text
    assert "'cookie': '<redacted>'" in text
    for leaked in (admin, api_key, wrong, secret_value, "cookie-secret-42"):
        assert leaked not in text
    assert "KIND-FORBIDDEN" in text and "VOL-ALLOWED" in text


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--violate", "not a rule"], "--violate"),
        (["--port", "70000"], "--port"),
        (["--poll-seconds", "0"], "--poll-seconds"),
        (["--max-body-bytes", "0"], "--max-body-bytes"),
    ],
)
def test_bad_options_are_one_line_errors(args: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nvcf-reference: error: ")
    assert needle in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_taken_port_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        rc = main(["serve", "--port", str(port), "--db", str(tmp_path / "db"),
                   "--tokens-file", str(tmp_path / "tokens.json"), "--log-file", str(tmp_path / "log")])
    assert rc == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_parse_violations() -> None:
    assert parse_violations(None) == frozenset()
    assert parse_violations(["kind-forbidden, VOL-ALLOWED", "HOOKS-NOT-RUN", ""]) == {
        "KIND-FORBIDDEN", "VOL-ALLOWED", "HOOKS-NOT-RUN"}
    with pytest.raises(ConfigError, match="rule id"):
        parse_violations(["KIND FORBIDDEN"])
    with pytest.raises(ConfigError):
        parse_violations(["-LEADING"])
