"""Background processes the environment owns: started detached, logged to a file, stopped by pid."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessRecord:
    """What `env down` needs to stop a process: its pid, and enough to recognise it is still ours."""

    name: str
    pid: int
    log: str
    cmdline0: str

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "pid": self.pid, "log": self.log, "cmdline0": self.cmdline0}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ProcessRecord:
        return cls(str(data["name"]), int(str(data["pid"])), str(data["log"]), str(data["cmdline0"]))


def start(
    name: str, argv: Sequence[str], log: Path, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> tuple[subprocess.Popen[bytes], ProcessRecord]:
    """Start `argv` in its own session so it outlives the CLI that started it."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    return proc, ProcessRecord(name, proc.pid, str(log), str(argv[0]))


def is_ours(record: ProcessRecord) -> bool:
    """True while the pid is alive and still runs the binary we started (pids get reused)."""
    try:
        cmdline = Path(f"/proc/{record.pid}/cmdline").read_bytes()
    except OSError:
        return False
    try:
        stat = Path(f"/proc/{record.pid}/stat").read_text()
    except OSError:
        return False
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":  # a zombie has exited; only its parent can reap it
        return False
    first = cmdline.split(b"\0", 1)[0].decode(errors="replace")
    return first == record.cmdline0 or Path(first).name == Path(record.cmdline0).name


def stop(record: ProcessRecord, grace: float = 10.0) -> None:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL. Only ever touches a pid that is still ours."""
    if not is_ours(record):
        return
    try:
        os.kill(record.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        _reap(record.pid)
        if not is_ours(record):
            return
        time.sleep(0.1)
    try:
        os.kill(record.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    for _ in range(50):
        _reap(record.pid)
        if not is_ours(record):
            return
        time.sleep(0.1)


def _reap(pid: int) -> None:
    # When the caller is the parent (tests start and stop in one process) the child must be reaped.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def tail(path: str | Path, lines: int = 5) -> str:
    """The last lines of a log, for an error message that says what went wrong."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])
