"""Run the pinned helm with a throw-away home, bounded in time and in output.

Every call gets its own HELM_CONFIG_HOME / HELM_CACHE_HOME / HELM_DATA_HOME / HELM_REGISTRY_CONFIG
under the caller's work folder, so registry logins never leak between functions (or into the user's
~/.config/helm) and concurrent deployments cannot see each other's credentials. Secrets go to helm
on stdin only, never on its command line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reference.charts.errors import ChartError, InternalChartError, ManifestError

# Output helm prints on stderr is only ever used for one-line reasons; more is noise.
_CHUNK = 1 << 16  # bytes read from helm's stdout at a time
_MAX_STDERR = 64 * 1024


def helm_binary() -> Path:
    """The project's pinned helm (bin/helm), as `make tools` links it."""
    from conformance import paths
    from conformance.errors import ConformanceError

    try:
        return paths.tool("helm")
    except ConformanceError as exc:
        raise InternalChartError(str(exc)) from None


@dataclass(frozen=True)
class HelmRun:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def error_line(self) -> str:
        """helm's own error sentence, without the `Error: ` prefix and the --debug advice."""
        lines = [ln.strip() for ln in self.stderr.splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("Error:")]
        line = errors[-1] if errors else (lines[-1] if lines else f"helm exited with status {self.returncode}")
        return line.removeprefix("Error:").strip()


class HelmTimeout(ChartError):
    """helm did not finish in time (the caller turns this into the right typed error)."""


class Helm:
    """One private helm home; `close()` (or the context manager) deletes it with any login in it."""

    def __init__(self, workdir: Path, binary: Path | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.home = Path(tempfile.mkdtemp(prefix="helm-", dir=workdir))
        self.binary = binary or helm_binary()

    def __enter__(self) -> Helm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)

    def env(self) -> dict[str, str]:
        keep = ("PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "SSL_CERT_FILE", "SSL_CERT_DIR")
        env = {k: os.environ[k] for k in keep if k in os.environ}
        env.update(
            HELM_CONFIG_HOME=str(self.home / "config"),
            HELM_CACHE_HOME=str(self.home / "cache"),
            HELM_DATA_HOME=str(self.home / "data"),
            HELM_REGISTRY_CONFIG=str(self.home / "registry.json"),
            HELM_REPOSITORY_CONFIG=str(self.home / "config" / "repositories.yaml"),
            HELM_REPOSITORY_CACHE=str(self.home / "cache" / "repository"),
            HELM_PLUGINS=str(self.home / "plugins"),
            # Rendering and pulling never need a cluster; an empty kubeconfig guarantees it.
            KUBECONFIG=os.devnull,
            # Proxies from the server's environment must not see registry traffic or credentials.
            NO_PROXY="*",
        )
        return env

    def run(self, args: Sequence[str], *, stdin: str | None = None, timeout: float) -> HelmRun:
        try:
            proc = subprocess.run(
                [str(self.binary), *args],
                input=stdin if stdin is not None else "",
                capture_output=True,
                text=True,
                env=self.env(),
                cwd=self.home,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise HelmTimeout(f"helm {args[0]} did not finish within {timeout:g} s") from None
        except OSError as exc:
            raise InternalChartError(f"cannot run helm: {exc.strerror or exc}") from exc
        return HelmRun(tuple(args), proc.returncode, proc.stdout, proc.stderr[-_MAX_STDERR:])

    def run_to_file(self, args: Sequence[str], out: Path, *, timeout: float, max_bytes: int) -> HelmRun:
        """Run with stdout going to `out`, killed when it passes `max_bytes` or `timeout`.

        Rendering is the one call whose output a chart controls (a template can loop), so it is
        written to disk and watched instead of being buffered in memory.
        """
        err_path = out.with_name(out.name + ".stderr")
        with out.open("wb") as sink, err_path.open("wb") as stderr:
            try:
                proc = subprocess.Popen(
                    [str(self.binary), *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
                    env=self.env(), cwd=self.home,
                )
            except OSError as exc:
                raise InternalChartError(f"cannot run helm: {exc.strerror or exc}") from exc
            # Reading the pipe to its end is the wait: it returns the moment helm is done (a polling
            # wait adds a tick to every render). A timer ends a helm that takes too long.
            expired = threading.Event()

            def expire() -> None:
                expired.set()
                proc.kill()

            timer = threading.Timer(timeout, expire)
            timer.daemon = True
            timer.start()
            written = 0
            try:
                assert proc.stdout is not None
                while chunk := proc.stdout.read1(_CHUNK):
                    written += len(chunk)
                    if written > max_bytes:
                        raise ManifestError(
                            f"the rendered chart is larger than {max_bytes} bytes; refusing to read it"
                        )
                    sink.write(chunk)
                proc.wait()
            finally:
                timer.cancel()
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                if proc.stdout is not None:
                    proc.stdout.close()
        if expired.is_set():
            raise HelmTimeout(f"helm {args[0]} did not finish within {timeout:g} s")
        if out.stat().st_size > max_bytes:
            raise ManifestError(f"the rendered chart is larger than {max_bytes} bytes; refusing to read it")
        with err_path.open("rb") as fh:
            fh.seek(max(0, err_path.stat().st_size - _MAX_STDERR))
            err = fh.read().decode("utf-8", "replace")
        return HelmRun(tuple(args), proc.returncode, "", err)
