"""Run the pinned helm with a throw-away home, bounded in time, output, memory and CPU.

Every call gets its own HELM_CONFIG_HOME / HELM_CACHE_HOME / HELM_DATA_HOME / HELM_REGISTRY_CONFIG
under the caller's work folder, so registry logins never leak between functions (or into the user's
~/.config/helm) and concurrent deployments cannot see each other's credentials. Secrets go to helm
on stdin only, never on its command line.

Templates are programs: a few lines can build gigabytes (a string doubled 25 times) or loop for
minutes. Each helm process therefore runs under kernel limits (see `ChildLimits`), set before it
executes its first instruction, and a process that hits one is reported as the bound it hit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import IO

from reference.charts.errors import ChartError, InternalChartError, ManifestError

try:
    import resource
except ImportError:  # pragma: no cover - not a POSIX system
    resource = None  # type: ignore[assignment]

log = logging.getLogger("reference.charts.helm")
MIB = 1024 * 1024
# Output helm prints on stderr is only ever used for one-line reasons; more is noise.
_CHUNK = 1 << 16  # bytes read from helm's stdout at a time
_MAX_STDERR = 64 * 1024
# How the Go runtime says an allocation failed (RLIMIT_DATA reached): "fatal error: runtime: out of
# memory", "... out of memory allocating heap arena metadata", "failed to reserve page summary memory".
_OUT_OF_MEMORY = re.compile(r"^fatal error: .*\bmemory\b", re.MULTILINE)
# The shell holds the exec until the parent has set the child's limits on its pid, so not one
# instruction of helm runs unbounded (a preexec_fn could set them in the child itself, but is unsafe
# in a threaded server). "Go" is the first line on stdin: a shell's `read` takes no byte past it from
# a pipe, so helm gets the rest. No line (the parent died: EOF) and helm is not run at all.
_GATE = 'read -r _ || exit 125; exec "$0" "$@"'
_CAN_LIMIT = resource is not None and hasattr(resource, "prlimit") and os.path.exists("/bin/sh")


def helm_binary() -> Path:
    """The pinned helm (NVCF_HELM, or bin/helm as `make tools` links it)."""
    from reference import paths
    from reference.errors import ReferenceFailure

    try:
        return paths.helm()
    except ReferenceFailure as exc:
        raise InternalChartError(str(exc)) from None


@dataclass(frozen=True)
class ChildLimits:
    """What one helm process may use, enforced by the kernel with rlimits (see reference/README.md).

    Memory is RLIMIT_DATA, the private writable memory a process maps: what Go really allocates.
    RLIMIT_AS cannot serve: Go reserves about 1.3 GiB of address space at start, and fails oddly
    under it (refusing even trivial renders at some values between 0.8 and 1.5 GiB).
    """

    # The pinned helm renders a 300-object chart in ~90 MiB and ~50 MB of output in ~450 MiB.
    memory_bytes: int = 512 * MIB
    cpu_seconds: int = 30

    @property
    def soft_memory_bytes(self) -> int:
        """GOMEMLIMIT: Go's garbage collector works harder near it, so a render whose live data fits
        under the hard bound, but not its garbage as well, still finishes."""
        return self.memory_bytes * 3 // 4


@dataclass(frozen=True)
class HelmRun:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    cpu_seconds: float = 0.0
    peak_rss_bytes: int = 0

    def error_line(self) -> str:
        """helm's own error sentence, without the `Error: ` prefix and the --debug advice."""
        lines = [ln.strip() for ln in self.stderr.splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("Error:")]
        line = errors[-1] if errors else (lines[-1] if lines else f"helm exited with status {self.returncode}")
        return line.removeprefix("Error:").strip()


class HelmTimeout(ChartError):
    """helm did not finish in time (the caller turns this into the right typed error)."""


class HelmLimitError(ChartError):
    """helm went over one of its `ChildLimits`; `reason` names the bound."""


class Helm:
    """One private helm home; `close()` (or the context manager) deletes it with any login in it."""

    def __init__(self, workdir: Path, binary: Path | None = None, limits: ChildLimits | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.home = Path(tempfile.mkdtemp(prefix="helm-", dir=workdir))
        self.binary = binary or helm_binary()
        self.limits = limits or ChildLimits()

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
            GOMEMLIMIT=f"{self.limits.soft_memory_bytes}B",
        )
        return env

    def run(self, args: Sequence[str], *, stdin: str | None = None, timeout: float) -> HelmRun:
        sink = BytesIO()
        run = self._execute(args, stdin=(stdin or "").encode(), sink=sink, timeout=timeout, max_bytes=None)
        stdout = sink.getvalue().decode("utf-8", "replace")
        return HelmRun(run.args, run.returncode, stdout, run.stderr, run.cpu_seconds, run.peak_rss_bytes)

    def run_to_file(self, args: Sequence[str], out: Path, *, timeout: float, max_bytes: int) -> HelmRun:
        """Run with stdout going to `out`, killed the moment it passes `max_bytes`, or at `timeout`.

        Rendering is the one call whose output a chart controls (a template can loop), so it is
        written to disk and watched instead of being buffered in memory.
        """
        with out.open("wb") as sink:
            return self._execute(args, stdin=None, sink=sink, timeout=timeout, max_bytes=max_bytes)

    def _execute(self, args: Sequence[str], *, stdin: bytes | None, sink: IO[bytes], timeout: float,
                 max_bytes: int | None) -> HelmRun:
        with tempfile.TemporaryFile(dir=self.home) as errors:
            proc = self._spawn(args, stderr=errors)
            # Reading the pipe to its end is the wait: it returns the moment helm is done (a polling
            # wait adds a tick to every render). A timer ends a helm that takes too long.
            expired = threading.Event()

            def expire() -> None:
                expired.set()
                proc.kill()

            timer = threading.Timer(timeout, expire)
            timer.daemon = True
            timer.start()
            usage = None
            try:
                _feed(proc, stdin or b"")
                assert proc.stdout is not None
                written = 0
                while chunk := proc.stdout.read1(_CHUNK):
                    written += len(chunk)
                    if max_bytes is not None and written > max_bytes:
                        raise ManifestError(
                            f"the rendered chart is larger than {max_bytes} bytes; refusing to read it"
                        )
                    sink.write(chunk)
                usage = _reap(proc)
            finally:
                timer.cancel()
                if proc.returncode is None:
                    proc.kill()
                    _reap(proc)
                if proc.stdout is not None:
                    proc.stdout.close()
            if expired.is_set():
                raise HelmTimeout(f"helm {args[0]} did not finish within {timeout:g} s")
            errors.seek(0, os.SEEK_END)
            errors.seek(max(0, errors.tell() - _MAX_STDERR))
            err = errors.read().decode("utf-8", "replace")
        cpu = usage.ru_utime + usage.ru_stime if usage is not None else 0.0
        rss = usage.ru_maxrss * 1024 if usage is not None else 0  # KiB on Linux
        run = HelmRun(tuple(args), proc.returncode, "", err, cpu, rss)
        log.debug("helm %s: status %d, %.2f s CPU, peak RSS %d MiB", args[0], run.returncode, cpu, rss // MIB)
        self._check_limits(run)
        return run

    def _spawn(self, args: Sequence[str], *, stderr: IO[bytes]) -> subprocess.Popen[bytes]:
        """Start helm, its limits already in force where the kernel offers them; its stdin is still open."""
        if not os.access(self.binary, os.X_OK):  # the shell would say it less clearly, as helm's own error
            raise InternalChartError(f"cannot run helm: {self.binary} is not an executable file")
        command = [str(self.binary), *args]
        options = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": stderr, "env": self.env(),
                   "cwd": self.home}
        if not _CAN_LIMIT:
            return _popen(command, **options)
        proc = _popen(["/bin/sh", "-c", _GATE, *command], **options)
        assert proc.stdin is not None
        try:
            self._limit(proc.pid)
            proc.stdin.write(b"go\n")
            proc.stdin.flush()
        except OSError as exc:
            proc.kill()
            _reap(proc)
            raise InternalChartError(f"cannot limit helm's memory and CPU: {exc.strerror or exc}") from exc
        return proc

    def _limit(self, pid: int) -> None:
        assert resource is not None
        memory, cpu = self.limits.memory_bytes, self.limits.cpu_seconds
        resource.prlimit(pid, resource.RLIMIT_DATA, (memory, memory))
        # Soft = hard: SIGKILL on reaching it (Go ignores the SIGXCPU a lower soft limit would send).
        resource.prlimit(pid, resource.RLIMIT_CPU, (cpu, cpu))

    def _check_limits(self, run: HelmRun) -> None:
        what = f"helm {run.args[0]}"
        if run.returncode != 0 and _OUT_OF_MEMORY.search(run.stderr):
            raise HelmLimitError(
                f"{what} needed more than {self.limits.memory_bytes // MIB} MiB of memory, the bound on one helm "
                "process"
            )
        # The kernel kills at the limit; rusage may count a little less than the kernel's own clock.
        if run.returncode == -signal.SIGKILL and run.cpu_seconds >= self.limits.cpu_seconds * 0.9:
            raise HelmLimitError(
                f"{what} used more than {self.limits.cpu_seconds} s of CPU time, the bound on one helm process"
            )


def _popen(command: list[str], **options: object) -> subprocess.Popen[bytes]:
    try:
        return subprocess.Popen(command, **options)  # type: ignore[call-overload, no-any-return]
    except OSError as exc:
        raise InternalChartError(f"cannot run helm: {exc.strerror or exc}") from exc


def _feed(proc: subprocess.Popen[bytes], data: bytes) -> None:
    """Write `data` to helm's stdin and close it; a helm that exits without reading it is no error."""
    assert proc.stdin is not None
    with contextlib.suppress(OSError):  # BrokenPipeError: helm is gone, and its status says why
        proc.stdin.write(data)
    with contextlib.suppress(OSError):
        proc.stdin.close()


def _reap(proc: subprocess.Popen[bytes]) -> resource.struct_rusage | None:
    """Wait for `proc` and return what it used (Popen.wait would drop the child's rusage)."""
    if proc.returncode is not None:
        return None
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except ChildProcessError:  # reaped by Popen itself (a kill() that raced the exit); status is known
        proc.wait()
        return None
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage
