"""Every probe the KWOK data plane starts is recorded until stopped; a data plane starting on the same
folder stops what an earlier one left running, and never a process that merely reuses a recorded pid."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from rb_support import alive

from reference.backend.kwok import dataplane
from reference.backend.kwok.dataplane import LocalProbeDataPlane
from reference.backend.kwok.probes import (
    ProbeLaunch,
    ProbeProcess,
    ProbeRecord,
    ProbeRecords,
    ProcessStamp,
    load_probe_modules,
)
from reference.backend.settings import BackendSettings
from reference.ports import FunctionVersion

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process stamps come from /proc")

ROOT = Path(__file__).resolve().parents[2]
PROBE_IMAGE = "nvcf-conformance/mini-service:0.1.0"
GONE_WITHIN = 10.0


class _NoObjects:
    async def config_map(self, namespace: str, name: str) -> dict[str, Any] | None:
        return None

    async def secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        return None


def _settings(workdir: Path) -> BackendSettings:
    return BackendSettings(kubeconfig=workdir / "no-kubeconfig", workdir=workdir)


def _records_folder(workdir: Path) -> Path:
    return workdir / "probes" / dataplane.RECORDS_FOLDER


def _wait_gone(pid: int, timeout: float = GONE_WITHIN) -> None:
    deadline = time.monotonic() + timeout
    while alive(pid):
        assert time.monotonic() < deadline, f"process {pid} is still running"
        time.sleep(0.05)


@contextmanager
def _sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "60"])
    try:
        # Popen may return while the exec is still under way (vfork), before the kernel shows the new
        # command line; records compare command lines, so wait for it.
        deadline = time.monotonic() + GONE_WITHIN
        while Path(f"/proc/{proc.pid}/cmdline").read_bytes() != b"sleep\x0060\x00":
            assert time.monotonic() < deadline, "sleep never showed its command line"
            time.sleep(0.01)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def _ignores_sigterm(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status").read_text()
    ignored = int(next(line for line in status.splitlines() if line.startswith("SigIgn:")).split()[1], 16)
    return bool(ignored & (1 << (signal.SIGTERM - 1)))


def _stamp(pid: int) -> ProcessStamp:
    stamp = ProcessStamp.of(pid)
    assert stamp is not None
    return stamp


# ---- the records themselves ------------------------------------------------------------------------


def test_a_stamp_tells_a_process_from_a_later_one_with_the_same_pid() -> None:
    with _sleeper() as sleeper:
        stamp = _stamp(sleeper.pid)
        assert stamp.is_running()
        assert not ProcessStamp(sleeper.pid, stamp.started + "0").is_running()
        sleeper.kill()
        sleeper.wait(10)
        assert not stamp.is_running()


def test_an_unrelated_process_that_holds_a_recorded_pid_is_left_alone(tmp_path: Path) -> None:
    records = ProbeRecords(tmp_path)
    me = _stamp(os.getpid())
    with _sleeper() as sleeper:
        real = _stamp(sleeper.pid)
        argv = ("sleep", "60")
        # The pid came back for a process that started at another time...
        records.write(ProbeRecord(ProcessStamp(sleeper.pid, real.started + "7"), argv, me))
        # ...or at the same tick but running another command (a probe was recorded, `sleep` runs).
        records.write(ProbeRecord(ProcessStamp(sleeper.pid, real.started), ("python", "-m", "mini_service"), me))
        assert len(records.records()) == 2
        assert records.sweep(grace=0.5) == []
        assert sleeper.poll() is None, "an unrelated process was signalled"
        assert records.records() == []


def test_a_live_servers_probe_is_left_alone_and_a_dead_servers_probe_is_stopped(tmp_path: Path) -> None:
    records = ProbeRecords(tmp_path)
    argv = ("sleep", "60")
    with _sleeper() as other_server, _sleeper() as its_probe, _sleeper() as orphan:
        dead_server = _stamp(other_server.pid)
        records.write(ProbeRecord(_stamp(its_probe.pid), argv, _stamp(other_server.pid)))
        records.write(ProbeRecord(_stamp(orphan.pid), argv, ProcessStamp(dead_server.pid, "gone:1")))
        assert records.sweep(grace=2.0) == [orphan.pid]
        assert orphan.wait(GONE_WITHIN) == -signal.SIGTERM
        assert its_probe.poll() is None
        assert [r.probe.pid for r in records.records()] == [its_probe.pid]


def test_a_probe_is_recorded_while_it_runs(tmp_path: Path) -> None:
    records = ProbeRecords(tmp_path / "records")
    launch = ProbeLaunch(
        namespace="ns", pod="pod-0", pod_uid="uid-0", node=None, container="mini-service", image=PROBE_IMAGE,
        args=(), env={}, pod_http_port=8000, pod_grpc_port=0, values_dir=tmp_path, workdir=tmp_path / "pod",
    )
    proc = ProbeProcess(launch, load_probe_modules(), records=records)
    proc.start()
    try:
        deadline = time.monotonic() + 20
        while proc.poll() == "starting":
            assert time.monotonic() < deadline, proc.last_error()
            time.sleep(0.05)
        assert proc.state == "up", proc.failure()
        (record,) = records.records()
        assert record.probe.pid == proc.pid and record.owner == _stamp(os.getpid())
        assert record.argv[1:3] == ("-m", "mini_service") and record.is_running()
    finally:
        proc.stop()
    assert records.records() == []


def test_a_probe_that_exits_on_its_own_is_no_longer_recorded(tmp_path: Path) -> None:
    records = ProbeRecords(tmp_path / "records")
    launch = ProbeLaunch(
        namespace="ns", pod="pod-0", pod_uid="uid-0", node=None, container="mini-service", image=PROBE_IMAGE,
        args=("--no-such-flag",), env={}, pod_http_port=8000, pod_grpc_port=0, values_dir=tmp_path,
        workdir=tmp_path / "pod",
    )
    proc = ProbeProcess(launch, load_probe_modules(), records=records)
    proc.start()
    deadline = time.monotonic() + 20
    while proc.poll() != "exited":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert records.records() == []


# ---- the data plane --------------------------------------------------------------------------------


POD: dict[str, Any] = {
    "metadata": {"name": "mini-0", "namespace": "fn-ns", "uid": "0123456789-uid"},
    "spec": {"nodeName": "l40s-0", "containers": [
        {"name": "mini-service", "image": PROBE_IMAGE, "ports": [{"name": "http", "containerPort": 8000}]},
    ]},
}
SERVICE: dict[str, Any] = {"metadata": {"name": "mini-service"},
                           "spec": {"ports": [{"port": 8000, "targetPort": "http"}]}}
FUNCTION = FunctionVersion(
    function_id="fn", version_id="fv", name="reaping", inference_url="/probe", inference_port=8000,
    health={"protocol": "HTTP", "uri": "/v2/health/ready", "port": 8000, "timeout": "PT10S",
            "expectedStatusCode": 200},
)


async def _start_one_probe(plane: LocalProbeDataPlane) -> int:
    deadline = time.monotonic() + 20
    while True:
        result = await plane.sync(FUNCTION, "fn-ns", SERVICE, [POD])
        (state,) = result.instances
        assert state.health != "failed", state
        if state.health == "healthy":
            (pid,) = plane.running_pids()
            return pid
        assert time.monotonic() < deadline, state
        await asyncio.sleep(0.1)


def test_a_data_plane_stops_what_a_dropped_one_left_running(tmp_path: Path) -> None:
    workdir = tmp_path / "backend"
    crashed = LocalProbeDataPlane(_settings(workdir), _NoObjects())
    pid = asyncio.run(_start_one_probe(crashed))
    assert alive(pid) and len(crashed.records.records()) == 1
    del crashed  # never closed: as far as the folder knows, it crashed
    gc.collect()
    assert alive(pid)

    restarted = LocalProbeDataPlane(_settings(workdir), _NoObjects())
    try:
        _wait_gone(pid, timeout=1.0)  # the sweep waited for it already
        assert restarted.records.records() == []
    finally:
        asyncio.run(restarted.close())


_CRASHING_SERVER = """
import json, sys, time, types
from pathlib import Path
sys.path.insert(0, {root!r})
from reference.backend.kwok.probes import ProbeLaunch, ProbeModules, ProbeProcess, ProbeRecords, load_probe_modules

# A probe wedged the way the old one was: deaf to SIGTERM (the parent-death signal included).
WEDGED = "import signal, time\\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\\n" \\
         "print('mini-service ready http=1 grpc=off', flush=True)\\ntime.sleep(600)\\n"
real = load_probe_modules()
wedged = types.SimpleNamespace(command=lambda python=None: [sys.executable, "-c", WEDGED],
                               environment=real.launch.environment, parse_ready_line=real.launch.parse_ready_line)
work = Path({work!r})
launch = ProbeLaunch(namespace="ns", pod="p", pod_uid="u", node=None, container="c", image="mini-service",
                     args=(), env={{}}, pod_http_port=8000, pod_grpc_port=0, values_dir=work, workdir=work)
proc = ProbeProcess(launch, ProbeModules(wedged, real.config), records=ProbeRecords(Path({records!r})))
proc.start()
while proc.poll() == "starting":
    time.sleep(0.05)
print(json.dumps({{"pid": proc.pid, "state": proc.state}}), flush=True)
time.sleep(600)
"""


def test_a_probe_deaf_to_sigterm_left_by_a_killed_server_is_killed_at_the_next_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workdir = tmp_path / "backend"
    script = _CRASHING_SERVER.format(root=str(ROOT), work=str(tmp_path / "pod"),
                                     records=str(_records_folder(workdir)))
    server = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        started = json.loads(server.stdout.readline())
        assert started["state"] == "up"
        os.kill(server.pid, signal.SIGKILL)  # no chance to clean up
        server.wait(10)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)
    pid = started["pid"]
    assert alive(pid) and _ignores_sigterm(pid), "the wedged probe was supposed to outlive its server"

    grace = 0.5
    monkeypatch.setattr(dataplane, "LEFTOVER_GRACE", grace)
    began = time.monotonic()
    restarted = LocalProbeDataPlane(_settings(workdir), _NoObjects())
    try:
        took = time.monotonic() - began
        _wait_gone(pid, timeout=1.0)
        assert grace <= took < grace + 5.0, took  # SIGTERM ignored for `grace`, then SIGKILL
        assert restarted.records.records() == []
    finally:
        asyncio.run(restarted.close())
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
