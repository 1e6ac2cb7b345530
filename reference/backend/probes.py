"""The mini-service probe as a local process standing in for one pod's serving container.

What the process gets is what the rendered pod spec gives the container: its env (downward API and
ConfigMap/Secret references resolved), its args (after the image's entrypoint, `$(VAR)` expanded),
and the files of its mounted volumes. Only the listen address and ports, and where the values folder
lives, are the data plane's: the probe is told them with flags appended after the chart's own args
(flags win over env, later flags over earlier ones), so the env it reports stays the chart's.

Processes are only ever stopped by their own pid. On Linux each one is also told to die with the
thread that started it, so a reference server that is killed outright leaves no probe behind.
"""

from __future__ import annotations

import importlib
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from reference.backend.images import cannot_run, is_probe_image
from reference.backend.podenv import ContainerConfigError, ObjectSource, container_env, expand
from reference.backend.volumes import local_path, materialise_mounts
from reference.charts.objects import as_list, dig

ProbeState = Literal["starting", "up", "exited"]
_PROBE_MODULE = "mini_service"
# The PATH a container image usually has; the probe is started by absolute path and needs no other.
_CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Run before the probe, in the process that becomes it: ask Linux to SIGTERM it when the server's
# thread that started it ends (the setting survives exec), unless the server is already gone. Not a
# `preexec_fn`: that runs Python (and gRPC's fork handlers) in the forked copy of a server whose gRPC
# threads are busy, and gRPC aborts there now and then. Exec-ing through this keeps fork clean.
_DIE_WITH_PARENT = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None).prctl(1, signal.SIGTERM)\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(0)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)
_LINUX = sys.platform.startswith("linux")


class ProbeUnavailable(Exception):
    """This pod's serving container cannot be stood in for; the message is a deployment error reason."""


@dataclass(frozen=True)
class ProbeModules:
    launch: ModuleType
    config: ModuleType


def load_probe_modules(package_dir: Path) -> ProbeModules:
    """The probe's own launch helpers and flag parser, so the rules for its flags and env live in one place."""
    path = str(package_dir)
    if not (package_dir / _PROBE_MODULE / "launch.py").is_file():
        raise FileNotFoundError(f"no mini-service probe sources in {package_dir}")
    if path not in sys.path:
        sys.path.append(path)
    return ProbeModules(importlib.import_module(f"{_PROBE_MODULE}.launch"),
                        importlib.import_module(f"{_PROBE_MODULE}.config"))


@dataclass(frozen=True)
class ProbeLaunch:
    namespace: str
    pod: str
    pod_uid: str
    node: str | None
    container: str
    image: str
    args: tuple[str, ...]
    env: dict[str, str]
    # Where the probe listens inside the pod (0: that listener is off); Service targets refer to these.
    pod_http_port: int
    pod_grpc_port: int
    values_dir: Path
    workdir: Path


def _is_probe_entrypoint(command: list[str]) -> bool:
    return len(command) >= 3 and Path(command[0]).name.startswith("python") and command[1:3] == ["-m", _PROBE_MODULE]


async def build_launch(pod: dict[str, Any], container: dict[str, Any], source: ObjectSource, *,
                       probe_image: str, modules: ProbeModules, workdir: Path) -> ProbeLaunch:
    """How to run `container` of `pod` locally; ProbeUnavailable when it cannot be done honestly."""
    pod_name = str(dig(pod, "metadata", "name") or "")
    name = str(container.get("name") or "")
    image = str(container.get("image") or "")
    if not is_probe_image(image, probe_image):
        raise ProbeUnavailable(f"pod {pod_name} container {name}: {cannot_run(image)}")
    try:
        env = await container_env(pod, container, source)
        command = [expand(str(a), env) for a in as_list(container.get("command"))]
        args = [expand(str(a), env) for a in as_list(container.get("args"))]
        if command and not _is_probe_entrypoint(command):
            raise ProbeUnavailable(
                f"pod {pod_name} container {name} replaces the probe's entrypoint with '{' '.join(command)}'; "
                "the KWOK data plane can only run the mini-service probe itself"
            )
        if command:  # `python -m mini_service ARGS...` as the command: the args follow it
            args = command[3:] + args
        try:
            parsed = modules.config.parse(args, env)
        except modules.config.ConfigError as exc:
            raise ProbeUnavailable(f"pod {pod_name} container {name}: the probe refuses its configuration: {exc}"
                                   ) from None
        workdir.mkdir(parents=True, exist_ok=True)
        mounts = await materialise_mounts(pod, container, source, workdir / "volumes")
    except ContainerConfigError as exc:
        raise ProbeUnavailable(f"pod {pod_name} container {name} cannot start: {exc}") from None
    values_dir = local_path(mounts, parsed.values_dir, workdir / "no-values-mounted")
    return ProbeLaunch(
        namespace=str(dig(pod, "metadata", "namespace") or ""), pod=pod_name,
        pod_uid=str(dig(pod, "metadata", "uid") or ""), node=dig(pod, "spec", "nodeName"), container=name,
        image=image, args=tuple(args), env=env, pod_http_port=parsed.http_port, pod_grpc_port=parsed.grpc_port,
        values_dir=values_dir, workdir=workdir,
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _base_env() -> dict[str, str]:
    # Not this server's whole environment: the probe reports its env, and ours may hold credentials.
    return {"PATH": _CONTAINER_PATH, "LANG": os.environ.get("LANG", "C.UTF-8")}


class ProbeProcess:
    """One probe process. Not thread-safe: driven from the data plane's event loop."""

    MAX_BIND_RETRIES = 3

    def __init__(self, launch: ProbeLaunch, modules: ProbeModules, python: str | None = None) -> None:
        self.launch = launch
        self.modules = modules
        self.python = python
        self.http_port: int | None = None
        self.grpc_port: int | None = None
        self.state: ProbeState = "starting"
        self.returncode: int | None = None
        self.started_at = 0.0
        self.restarts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._attempts = 0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def stdout_path(self) -> Path:
        return self.launch.workdir / "stdout.log"

    @property
    def stderr_path(self) -> Path:
        return self.launch.workdir / "stderr.log"

    def start(self) -> None:
        launch = self.launch
        self._attempts += 1
        # Port 0 means "off" to the probe, not "any": free ports are picked here.
        http = free_port() if launch.pod_http_port else 0
        grpc_port = free_port() if launch.pod_grpc_port else 0
        argv = [
            *self.modules.launch.command(self.python), *launch.args,
            "--host", "127.0.0.1", "--http-port", str(http), "--grpc-port", str(grpc_port),
            "--values-dir", str(launch.values_dir),
        ]
        if _LINUX and os.path.isabs(argv[0]):
            argv = [argv[0], "-S", "-c", _DIE_WITH_PARENT, str(os.getpid()), *argv]
        env = self.modules.launch.environment(
            {**launch.env, "HOSTNAME": launch.pod, "PYTHONDONTWRITEBYTECODE": "1"}, base=_base_env()
        )
        launch.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self._proc = subprocess.Popen(
                argv, env=env, cwd=launch.workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                close_fds=True,
            )
        self.state = "starting"
        self.returncode = None
        self.http_port = self.grpc_port = None
        self.started_at = time.monotonic()

    def poll(self) -> ProbeState:
        """Advance the state from what the process has done since the last look."""
        if self._proc is None or self.state == "exited":
            return self.state
        code = self._proc.poll()
        if self.state == "starting":
            ready = self._ready_line()
            if ready is not None and code is None:
                self.http_port, self.grpc_port = ready
                self.state = "up"
                return self.state
        if code is not None:
            self.returncode = code
            # Ports are picked before the probe binds them: someone else may have taken one meanwhile.
            if self.state == "starting" and code == 1 and "cannot listen" in self.last_error() \
                    and self._attempts < self.MAX_BIND_RETRIES:
                self.start()
                return self.state
            self.state = "exited"
        return self.state

    def _ready_line(self) -> tuple[int | None, int | None] | None:
        try:
            text = self.stdout_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        for line in text.splitlines():
            parsed = self.modules.launch.parse_ready_line(line)
            if parsed is not None:
                return parsed  # type: ignore[no-any-return]
        return None

    def last_error(self) -> str:
        try:
            lines = self.stderr_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1].strip() if lines else ""

    def failure(self) -> str:
        detail = self.last_error()
        return (f"the mini-service of pod {self.launch.pod} exited with status {self.returncode}"
                + (f": {detail}" if detail else ""))

    def restart(self) -> None:
        self.stop()
        self.restarts += 1
        self._attempts = 0
        self.start()

    def stop(self, grace: float = 5.0) -> None:
        """Stop the process by its pid: SIGTERM, then SIGKILL after `grace` seconds. Blocking."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.returncode = proc.returncode
        self.state = "exited"

    def remove_files(self) -> None:
        shutil.rmtree(self.launch.workdir, ignore_errors=True)
