"""Running the pinned helm with a private home, so a run never reads or writes the user's ~/.config/helm."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from conformance import paths
from conformance.errors import ConformanceError


@dataclass(frozen=True)
class HelmResult:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def last_error_line(self) -> str:
        lines = [line.strip() for line in self.output.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("Error")]
        return (errors or lines or ["(no output)"])[-1]


class Helm:
    """helm with HELM_* homes under `home` (created on first use)."""

    def __init__(self, home: Path, binary: Path | None = None, registry_config: Path | None = None) -> None:
        self.home = home
        self._binary = binary
        self._registry_config = registry_config

    @cached_property
    def binary(self) -> Path:
        return self._binary or paths.tool("helm")

    @property
    def registry_config(self) -> Path:
        return self._registry_config or self.home / "registry" / "config.json"

    def with_registry_config(self, path: Path) -> Helm:
        """The same helm with its registry logins in `path` (one login session, removed afterwards)."""
        return Helm(self.home, self._binary, path)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HELM_")}
        env.update(
            HELM_CONFIG_HOME=str(self.home / "config"),
            HELM_CACHE_HOME=str(self.home / "cache"),
            HELM_DATA_HOME=str(self.home / "data"),
            HELM_REGISTRY_CONFIG=str(self.registry_config),
            HELM_REPOSITORY_CONFIG=str(self.home / "config" / "repositories.yaml"),
            HELM_REPOSITORY_CACHE=str(self.home / "cache" / "repository"),
            # No plugins, no update checks, no kube context: these calls never reach a cluster.
            HELM_PLUGINS=str(self.home / "plugins"),
            KUBECONFIG=os.devnull,
        )
        return env

    def run(
        self, args: Sequence[str], *, input_text: str | None = None, cwd: Path | None = None, timeout: float = 300
    ) -> HelmResult:
        self.home.mkdir(parents=True, exist_ok=True)
        self.registry_config.parent.mkdir(parents=True, exist_ok=True)
        argv = [str(self.binary), *args]
        try:
            proc = subprocess.run(
                argv,
                input=input_text,
                capture_output=True,
                text=True,
                env=self.env(),
                cwd=cwd,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ConformanceError(f"helm {args[0]} did not finish within {timeout:.0f} s") from None
        return HelmResult(tuple(args), proc.returncode, proc.stdout, proc.stderr)

    @cached_property
    def version(self) -> str:
        result = self.run(["version", "--template", "{{.Version}}"])
        if result.returncode != 0 or not result.stdout.strip():
            raise ConformanceError(f"{self.binary}: `helm version` failed: {result.last_error_line()}")
        return result.stdout.strip()
