"""CNCF distribution (`registry serve`) as a process on 127.0.0.1 with htpasswd auth."""

from __future__ import annotations

import secrets
import socket
import subprocess
import time
from pathlib import Path

import httpx
import yaml

from conformance.env import process
from conformance.env.registry import RegistryEndpoint, htpasswd_line
from conformance.errors import ConformanceError
from conformance.paths import tool


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalRegistry:
    """A registry whose storage, config and log live under `home`."""

    def __init__(self, home: Path, username: str = "conformance", port: int = 0,
                 password: str | None = None) -> None:
        self.home = home
        self.username = username
        self.port = port or free_port()
        self.password = password or secrets.token_urlsafe(18)
        self.log = home / "registry.log"
        self.record: process.ProcessRecord | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> RegistryEndpoint:
        return RegistryEndpoint(f"127.0.0.1:{self.port}", self.username, self.password)

    def _write_config(self) -> Path:
        self.home.mkdir(parents=True, exist_ok=True)
        htpasswd = self.home / "htpasswd"
        htpasswd.write_text(htpasswd_line(self.username, self.password))
        htpasswd.chmod(0o600)
        config = {
            "version": 0.1,
            "log": {"level": "info", "formatter": "text"},
            "storage": {"filesystem": {"rootdirectory": str(self.home / "data")}, "delete": {"enabled": True}},
            "http": {"addr": f"127.0.0.1:{self.port}", "secret": secrets.token_hex(16)},
            "auth": {"htpasswd": {"realm": "nvcf-conformance", "path": str(htpasswd)}},
        }
        path = self.home / "config.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def start(self, timeout: float = 30.0) -> RegistryEndpoint:
        config = self._write_config()
        binary = tool("registry")
        # distribution reads OTEL_* and would try to export traces to a collector that is not there.
        env = {"PATH": "/usr/bin:/bin", "OTEL_TRACES_EXPORTER": "none", "OTEL_SDK_DISABLED": "true"}
        self._proc, self.record = process.start("registry", [str(binary), "serve", str(config)], self.log, env)
        self.wait_ready(timeout)
        return self.endpoint

    def wait_ready(self, timeout: float) -> None:
        """Ready means: anonymous `/v2/` is refused (auth on) and the credentials are accepted."""
        deadline = time.monotonic() + timeout
        url = f"http://{self.endpoint.address}/v2/"
        last = "no answer"
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise ConformanceError(
                    f"registry exited with code {self._proc.returncode}; log {self.log}: {process.tail(self.log)}"
                )
            try:
                anon = httpx.get(url, timeout=2)
                authed = httpx.get(url, auth=(self.username, self.password), timeout=2)
                if anon.status_code == 401 and authed.status_code == 200:
                    return
                last = f"anonymous {anon.status_code}, authenticated {authed.status_code}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            time.sleep(0.2)
        raise ConformanceError(f"registry not ready after {timeout:.0f}s ({last}); log {self.log}")

    def stop(self) -> None:
        if self.record is not None:
            process.stop(self.record)
