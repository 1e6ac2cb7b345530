"""The reference NVCF server as one more environment process (started by its CLI, never imported).

The harness side of the project only knows an NVCF implementation through its API, so the
environment runs `nvcf-reference serve` (as `python -m reference`) as a separate process and reads back what it
needs (address, tokens) from the files the server writes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from conformance.env import process
from conformance.env.local_registry import free_port
from conformance.env.registry import RegistryEndpoint
from conformance.errors import ConformanceError
from conformance.paths import tool

# The server reads the registry password from this variable: it never appears on a command line.
PASSWORD_ENV = "NVCF_REFERENCE_REGISTRY_PASSWORD"


class ReferenceServer:
    def __init__(self, home: Path, kubeconfig: Path, registry: RegistryEndpoint,
                 extra_args: Sequence[str] = ()) -> None:
        self.home = home
        self.kubeconfig = kubeconfig
        self.registry = registry
        self.extra_args = tuple(extra_args)
        self.log = home / "server.log"
        self.state_file = home / "state.json"
        self.tokens_file = home / "tokens.json"
        self.grpc_port = free_port()
        self.record: process.ProcessRecord | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def argv(self) -> list[str]:
        return [
            sys.executable, "-m", "reference", "serve",
            "--host", "127.0.0.1", "--port", "0",
            "--db", str(self.home / "nvcf.db"),
            "--tokens-file", str(self.tokens_file),
            "--state-file", str(self.state_file),
            "--log-file", str(self.log),
            "--kubeconfig", str(self.kubeconfig),
            "--registry", self.registry.address,
            "--registry-username", self.registry.username,
            "--registry-password-env", PASSWORD_ENV,
            "--grpc-port", str(self.grpc_port),
            *self.extra_args,
        ]

    def start(self, timeout: float = 60.0) -> dict[str, Any]:
        self.home.mkdir(parents=True, exist_ok=True)
        self.state_file.unlink(missing_ok=True)
        # The server is told where the pinned helm is rather than finding the harness's folders itself.
        env = {**os.environ, PASSWORD_ENV: self.registry.password, "NVCF_HELM": str(tool("helm"))}
        self._proc, self.record = process.start("reference-nvcf", self.argv(), self.home / "stdout.log", env)
        state = self._wait_state(timeout)
        tokens = self._tokens()
        info = {
            "implementation": "nvcf-conformance reference",
            "version": state.get("version") or "unknown",
            "gateway": f"127.0.0.1:{state['port']}",
            "url": state["url"],
            "grpc": state.get("grpc") or f"127.0.0.1:{self.grpc_port}",
            "token": tokens["admin"],
            "api_key": tokens["api-key"],
            "log": str(self.log),
        }
        self._wait_healthy(state["url"], timeout)
        return info

    def _wait_state(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise ConformanceError(
                    f"exited with code {self._proc.returncode}: {process.tail(self.home / 'stdout.log', 2)}; "
                    f"log {self.log}"
                )
            if self.state_file.exists():
                try:
                    return dict(json.loads(self.state_file.read_text()))
                except json.JSONDecodeError:
                    pass
            time.sleep(0.1)
        raise ConformanceError(f"did not start listening within {timeout:.0f}s; log {self.log}")

    def _tokens(self) -> dict[str, str]:
        """Token values by principal name, from the tokens file the server generated."""
        data = json.loads(self.tokens_file.read_text())
        by_name = {entry["name"]: token for token, entry in data.get("tokens", data).items()}
        missing = {"admin", "api-key"} - by_name.keys()
        if missing:
            raise ConformanceError(f"{self.tokens_file}: no token named {', '.join(sorted(missing))}")
        return by_name

    def _wait_healthy(self, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise ConformanceError(f"/health did not answer 200 within {timeout:.0f}s; log {self.log}")
