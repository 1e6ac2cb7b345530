"""The Docker engine of the kind path: the one that already answers, or a dockerd started for it.

A dockerd started here runs with the `nvcf-runc` runtime (tools/kind-node/go/cmd/nvcf-runc) as
default: on machines whose capability bounding set lacks CAP_SYS_RESOURCE, `docker run --privileged`
(every kind node) fails with "unable to apply caps: operation not permitted" under plain runc. It
also leaves the host's network alone: no iptables rules, no ip_forward change, no docker0 bridge
(`--iptables=false --ip-forward=false --bridge=none`). kind's own network is a user-defined bridge,
where nodes reach each other and Docker's embedded DNS without any of that, and published ports
(the API server, the registry) go through docker-proxy on 127.0.0.1.

Its images live in a data root of its own under the tools cache, so a loaded node image survives
`env down` and the next `env up` starts warm.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from conformance.env import process
from conformance.errors import ConformanceError
from conformance.paths import BIN_DIR

DEFAULT_HOST = "unix:///var/run/docker.sock"
RUNTIME_NAME = "nvcf-runc"
CAP_SYS_RESOURCE = 24
# dockerd's runtime state (its containerd's sockets, netns files): removed again when it stops.
EXEC_ROOT = Path("/run/nvcf-conformance/docker")
# What dockerd and the containerd it starts may find: never bin/, whose tools are not theirs.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def docker_host() -> str:
    return os.environ.get("DOCKER_HOST") or DEFAULT_HOST


def docker_data_root() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(os.environ.get("NVCF_DOCKER_DATA_ROOT") or cache / "nvcf-conformance" / "docker")


def client_env(host: str) -> dict[str, str]:
    """The environment for `docker`, `kind` and everything that shells out to them."""
    return {**os.environ, "DOCKER_HOST": host}


def docker_cli() -> str:
    found = shutil.which("docker")
    if not found:
        raise ConformanceError("the docker client is missing: bash tools/kind-prereqs.sh installs it")
    return found


def run_docker(host: str, *args: str, timeout: float = 120.0, input_bytes: bytes | None = None,
               check: bool = True) -> subprocess.CompletedProcess[bytes]:
    """`docker ARGS` against `host`; a failure is a ConformanceError with docker's last line."""
    argv = [docker_cli(), *args]
    try:
        done = subprocess.run(argv, env=client_env(host), capture_output=True, timeout=timeout, input=input_bytes,
                              check=False)
    except subprocess.TimeoutExpired:
        raise ConformanceError(f"`docker {' '.join(args[:3])}` did not finish within {timeout:.0f}s") from None
    if check and done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip().splitlines()
        raise ConformanceError(f"`docker {' '.join(args[:3])}` failed: {err[-1] if err else 'no output'}")
    return done


def answers(host: str) -> bool:
    try:
        done = subprocess.run([docker_cli(), "version", "--format", "{{.Server.Version}}"], env=client_env(host),
                              capture_output=True, timeout=15, check=False)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0 and bool(done.stdout.strip())


def bounding_set_has(bit: int) -> bool:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapBnd:"):
            return bool(int(line.split()[1], 16) & (1 << bit))
    return True


def privileged_problem(host: str) -> str | None:
    """Why this engine cannot start kind's privileged node containers here, or None."""
    if bounding_set_has(CAP_SYS_RESOURCE):
        return None
    info = json.loads(run_docker(host, "info", "--format", "{{json .}}").stdout)
    if info.get("DefaultRuntime") == RUNTIME_NAME:
        return None
    return (f"the Docker engine at {host} runs privileged containers with {info.get('DefaultRuntime')!r}, but this "
            "machine's capability bounding set lacks CAP_SYS_RESOURCE, so kind's nodes would fail with 'unable to "
            f"apply caps'. Stop it and let `env up --cluster kind` start one, or restart it with "
            f"`--add-runtime {RUNTIME_NAME}={BIN_DIR / RUNTIME_NAME} --default-runtime {RUNTIME_NAME}`")


@dataclass
class Engine:
    """The engine in use; `record` is set when this run started dockerd (and so must stop it)."""

    host: str
    record: process.ProcessRecord | None = None

    @property
    def env(self) -> dict[str, str]:
        return client_env(self.host)


def start_dockerd(home: Path, host: str, timeout: float, progress: Callable[[str], None]) -> Engine:
    """Start dockerd on `host` (a unix socket) with the nvcf-runc runtime; wait until it answers."""
    if not host.startswith("unix://"):
        raise ConformanceError(f"no Docker engine answers at {host}, and only a local unix socket can be started here")
    dockerd = shutil.which("dockerd", path=SYSTEM_PATH)
    if not dockerd:
        raise ConformanceError("no Docker engine answers and dockerd is not installed: bash tools/kind-prereqs.sh")
    runtime = BIN_DIR / RUNTIME_NAME
    if not runtime.exists():
        raise ConformanceError(f"{runtime} is missing: bash tools/build.sh kind-node-go")
    EXEC_ROOT.mkdir(parents=True, exist_ok=True)
    exec_root = EXEC_ROOT
    data_root = docker_data_root()
    data_root.mkdir(parents=True, exist_ok=True)
    argv = [
        dockerd, "--host", host,
        "--add-runtime", f"{RUNTIME_NAME}={runtime.resolve()}", "--default-runtime", RUNTIME_NAME,
        "--data-root", str(data_root), "--exec-root", str(exec_root), "--pidfile", str(exec_root / "dockerd.pid"),
        "--iptables=false", "--ip-forward=false", "--bridge=none",
    ]
    log = home / "dockerd.log"
    progress(f"starting dockerd on {host} (data root {data_root})")
    proc, record = process.start("dockerd", argv, log, {"PATH": SYSTEM_PATH, "HOME": str(Path.home())})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ConformanceError(f"dockerd exited with code {proc.returncode}: {process.tail(log, 3)}; log {log}")
        if answers(host):
            return Engine(host, record)
        time.sleep(0.5)
    process.stop(record)
    raise ConformanceError(f"dockerd did not answer within {timeout:.0f}s; log {log}")


def ensure_engine(home: Path, timeout: float, progress: Callable[[str], None]) -> Engine:
    """The engine that answers at DOCKER_HOST (default socket), or one started there."""
    host = docker_host()
    if answers(host):
        problem = privileged_problem(host)
        if problem:
            raise ConformanceError(problem)
        progress(f"using the Docker engine at {host}")
        return Engine(host)
    return start_dockerd(home, host, timeout, progress)


def stop_engine(record: process.ProcessRecord) -> None:
    """Stop a dockerd this environment started (by pid, only while it still is ours), and remove its
    runtime state folder unless something is still mounted below it."""
    # dockerd stops its containers and its containerd before it exits: give it time.
    process.stop(record, grace=60.0)
    if process.is_ours(record):
        return
    mounts = Path("/proc/self/mounts").read_text().split("\n")
    if not any(f" {EXEC_ROOT}/" in line for line in mounts):
        shutil.rmtree(EXEC_ROOT, ignore_errors=True)
        with contextlib.suppress(OSError):
            EXEC_ROOT.parent.rmdir()
