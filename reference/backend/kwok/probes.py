"""The mini-service probe as a local process standing in for one pod's serving container.

What the process gets is what the rendered pod spec gives the container: its env (downward API and
ConfigMap/Secret references resolved), its args (after the image's entrypoint, `$(VAR)` expanded),
and the files of its mounted volumes. Only the listen address and ports, and where the values folder
lives, are the data plane's: the probe is told them with flags appended after the chart's own args
(flags win over env, later flags over earlier ones), so the env it reports stays the chart's.

Processes are only ever stopped by their own pid. On Linux each one is also told to die with the
thread that started it, so a reference server that is killed outright leaves no probe behind; and,
for a probe that ignored that signal, each one started is written down (`ProbeRecords`) until it is
stopped, so the next data plane on the same folder finds and stops it. A record holds what tells the
process from a later one that got the same pid (pids wrap around fast on a busy machine): when it
started, and its command line.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from reference.backend.kwok.images import cannot_run, is_probe_image
from reference.backend.kwok.podenv import ContainerConfigError, ObjectSource, container_env, expand
from reference.backend.kwok.volumes import local_path, materialise_mounts
from reference.charts.objects import as_list, dig

log = logging.getLogger("reference.backend.kwok.probes")
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


def load_probe_modules() -> ProbeModules:
    """The probe's own launch helpers and flag parser, so the rules for its flags and env live in one place.

    The probe is the installed `mini_service` package (`make install` installs it from
    sample-charts/images/mini-service); FileNotFoundError when it is not installed.
    """
    try:
        return ProbeModules(importlib.import_module(f"{_PROBE_MODULE}.launch"),
                            importlib.import_module(f"{_PROBE_MODULE}.config"))
    except ModuleNotFoundError as exc:
        if exc.name is not None and exc.name.split(".")[0] == _PROBE_MODULE:
            raise FileNotFoundError("the mini-service probe is not installed: `pip install -e "
                                    "sample-charts/images/mini-service` (make install does it)") from None
        raise


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


@dataclass(frozen=True)
class ProcessStamp:
    """A pid plus when that process started: no later process that gets the same pid matches it."""

    pid: int
    started: str  # "<boot id>:<start time in clock ticks since boot>"

    @classmethod
    def of(cls, pid: int) -> ProcessStamp | None:
        """The stamp of the running process `pid`; None when there is none (or only a zombie), or
        where /proc cannot tell (not Linux)."""
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        except OSError:
            return None
        # The command name in parentheses may hold spaces and parentheses: fields start after the last ')'.
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) < 20 or fields[0] in ("Z", "X"):
            return None
        return cls(pid, f"{boot}:{fields[19]}")  # field 22 of stat(5): starttime

    def is_running(self) -> bool:
        return ProcessStamp.of(self.pid) == self


def _command_line(pid: int) -> tuple[str, ...] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return tuple(os.fsdecode(part) for part in raw.split(b"\0")[:-1])


@dataclass(frozen=True)
class ProbeRecord:
    probe: ProcessStamp
    # The probe's own argv; the process runs it, or (before its exec) a wrapper that ends with it.
    argv: tuple[str, ...]
    owner: ProcessStamp  # the server process that started it

    @property
    def file_name(self) -> str:
        return f"{self.probe.pid}-{self.probe.started.rsplit(':', 1)[-1]}.json"

    def is_running(self) -> bool:
        """Whether the recorded probe still runs: same pid, same start, same command line."""
        if not self.probe.is_running():
            return False
        command = _command_line(self.probe.pid)
        if not command:  # empty while an exec is under way or once the process exits: no match, to be safe
            return False
        return command[len(command) - len(self.argv):] == self.argv

    def to_json(self) -> str:
        return json.dumps({"pid": self.probe.pid, "started": self.probe.started, "argv": list(self.argv),
                           "owner": {"pid": self.owner.pid, "started": self.owner.started}})

    @classmethod
    def from_json(cls, text: str) -> ProbeRecord:
        data = json.loads(text)
        owner = data["owner"]
        return cls(ProcessStamp(int(data["pid"]), str(data["started"])), tuple(str(a) for a in data["argv"]),
                   ProcessStamp(int(owner["pid"]), str(owner["started"])))


def _signal_if_running(record: ProbeRecord, signum: int) -> bool:
    """Send `signum` to the recorded probe if it is still that process; False when it is not."""
    try:
        pidfd = os.pidfd_open(record.probe.pid)
    except (ProcessLookupError, PermissionError):
        return False
    except OSError:  # a kernel without pidfds: checking right before the kill leaves a window of microseconds
        if not record.is_running():
            return False
        try:
            os.kill(record.probe.pid, signum)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    try:
        # The pidfd pins this very process: once it matches the record, the signal cannot reach a successor.
        if not record.is_running():
            return False
        signal.pidfd_send_signal(pidfd, signum)
        return True
    except (ProcessLookupError, PermissionError):  # PermissionError: another user's process, not ours
        return False
    finally:
        os.close(pidfd)


def _still_running(records: Sequence[ProbeRecord], deadline: float) -> list[ProbeRecord]:
    """Wait until none of `records` runs or `deadline` (monotonic) passes; the ones still running."""
    while True:
        running = [r for r in records if r.is_running()]
        if not running or time.monotonic() >= deadline:
            return running
        time.sleep(0.05)  # not our children (or not reaped by us): nothing to block on but polling


class ProbeRecords:
    """One small file per probe that is started and not yet stopped, in `folder`.

    A file per probe rather than one shared list: adding and removing are a rename and an unlink, so
    threads stopping probes in parallel never rewrite each other's entries, and a crash mid-write
    leaves at most a stray temporary file. Where /proc cannot tell one process from another (not
    Linux) nothing is recorded, since nothing found later could be told apart from a stranger.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._me = ProcessStamp.of(os.getpid())

    def add(self, pid: int, argv: Sequence[str]) -> ProbeRecord | None:
        stamp = ProcessStamp.of(pid)
        if stamp is None or self._me is None:
            return None
        record = ProbeRecord(stamp, tuple(argv), self._me)
        self.write(record)
        return record

    def write(self, record: ProbeRecord) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / record.file_name
        partial = path.with_suffix(".tmp")
        partial.write_text(record.to_json(), encoding="utf-8")
        os.replace(partial, path)

    def remove(self, record: ProbeRecord) -> None:
        (self.folder / record.file_name).unlink(missing_ok=True)

    def _entries(self) -> list[tuple[Path, ProbeRecord | None]]:
        entries: list[tuple[Path, ProbeRecord | None]] = []
        for path in sorted(self.folder.glob("*.json")):
            try:
                record: ProbeRecord | None = ProbeRecord.from_json(path.read_text(encoding="utf-8"))
            except (OSError, ValueError, KeyError, TypeError):
                record = None  # unreadable: nothing in it can be trusted to name a process
            entries.append((path, record))
        return entries

    def records(self) -> list[ProbeRecord]:
        return [record for _, record in self._entries() if record is not None]

    def sweep(self, grace: float) -> list[int]:
        """Stop every recorded probe whose server is gone (SIGTERM, then SIGKILL after `grace` seconds),
        clear their records, and return their pids.

        A record of this process counts as a leftover too: whatever wrote it (a plane dropped without
        being closed) handed the folder over to the caller. Only records of another live server stay.
        """
        for partial in self.folder.glob("*.tmp"):
            partial.unlink(missing_ok=True)
        leftovers: list[ProbeRecord] = []
        for path, record in self._entries():
            if record is None:
                path.unlink(missing_ok=True)
                continue
            if record.owner != self._me and record.owner.is_running():
                continue
            if _signal_if_running(record, signal.SIGTERM):
                leftovers.append(record)
            else:  # gone already, or its pid now belongs to another process: not ours to stop
                self.remove(record)
        stubborn = _still_running(leftovers, time.monotonic() + grace)
        for record in stubborn:
            _signal_if_running(record, signal.SIGKILL)
        if _still_running(stubborn, time.monotonic() + 5.0):
            log.warning("mini-service processes %s survived SIGKILL", [r.probe.pid for r in stubborn])
        for record in leftovers:
            self.remove(record)
        return [r.probe.pid for r in leftovers]


class ProbeProcess:
    """One probe process. Not thread-safe: driven from the data plane's event loop."""

    MAX_BIND_RETRIES = 3

    def __init__(self, launch: ProbeLaunch, modules: ProbeModules, python: str | None = None, *,
                 records: ProbeRecords | None = None) -> None:
        self.launch = launch
        self.modules = modules
        self.python = python
        self.records = records
        self._record: ProbeRecord | None = None
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
        probe_argv = [
            *self.modules.launch.command(self.python), *launch.args,
            "--host", "127.0.0.1", "--http-port", str(http), "--grpc-port", str(grpc_port),
            "--values-dir", str(launch.values_dir),
        ]
        argv = probe_argv
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
        if self.records is not None:
            # Until this child is reaped its pid cannot be reused, so the stamp read here is its own.
            self._record = self.records.add(self._proc.pid, probe_argv)
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
            self._forget()
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
        self._forget()

    def _forget(self) -> None:
        """Drop the record once the process is reaped (its pid may be handed out again from then on)."""
        if self.records is not None and self._record is not None:
            self.records.remove(self._record)
        self._record = None

    def remove_files(self) -> None:
        shutil.rmtree(self.launch.workdir, ignore_errors=True)
