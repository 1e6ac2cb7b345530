"""Probe processes on their own (no cluster): start, serve, stop by pid, and never outlive the server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from rb_support import alive

from reference.backend.kwok.probes import ProbeLaunch, ProbeProcess, load_probe_modules

ROOT = Path(__file__).resolve().parents[2]


def _launch(workdir: Path, *args: str, **env: str) -> ProbeLaunch:
    return ProbeLaunch(
        namespace="ns", pod="pod-0", pod_uid="uid-0", node="l40s-0", container="mini-service",
        image="nvcf-conformance/mini-service:0.1.0", args=args,
        env={"MINI_SERVICE_HTTP_PORT": "8000", "POD_NAME": "pod-0", **env},
        pod_http_port=8000, pod_grpc_port=8001, values_dir=workdir / "values", workdir=workdir,
    )


def _wait_up(proc: ProbeProcess, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while proc.poll() == "starting":
        assert time.monotonic() < deadline, proc.last_error()
        time.sleep(0.05)
    assert proc.state == "up", proc.failure()


def test_a_probe_gets_the_pods_env_and_args_and_stops_by_pid(tmp_path: Path) -> None:
    (tmp_path / "values").mkdir()
    (tmp_path / "values" / "config.yaml").write_text("answer: 42\n")
    proc = ProbeProcess(_launch(tmp_path, "--model", "echo,other", GREETING="hi"), load_probe_modules())
    proc.start()
    try:
        _wait_up(proc)
        seen = httpx.get(f"http://127.0.0.1:{proc.http_port}/probe", timeout=5).json()
        # The chart's args first, unchanged; the data plane's listen flags after them.
        assert seen["args"][:2] == ["--model", "echo,other"] and "--http-port" in seen["args"][2:]
        assert seen["env"]["GREETING"] == "hi" and seen["env"]["MINI_SERVICE_HTTP_PORT"] == "8000"
        assert seen["env"]["HOSTNAME"] == "pod-0"
        assert seen["values"] == {"config.yaml": {"answer": 42}}
        # This server's own environment does not leak into the function's.
        assert not {"NVCF_TOKEN", "NVCF_RUN_DIR", "VIRTUAL_ENV"} & set(seen["env"])
    finally:
        proc.stop()
    assert proc.state == "exited" and proc.pid is not None and not alive(proc.pid)


def test_a_probe_that_refuses_its_flags_reports_why(tmp_path: Path) -> None:
    proc = ProbeProcess(_launch(tmp_path, "--no-such-flag"), load_probe_modules())
    proc.start()
    deadline = time.monotonic() + 20
    while proc.poll() != "exited":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert proc.returncode == 2 and "--no-such-flag" in proc.failure()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux only")
def test_probes_die_with_a_server_that_is_killed(tmp_path: Path) -> None:
    server = textwrap.dedent(f"""
        import json, sys, time
        from pathlib import Path
        sys.path.insert(0, {str(ROOT)!r})
        from reference.backend.kwok.probes import ProbeLaunch, ProbeProcess, load_probe_modules
        launch = ProbeLaunch(namespace="ns", pod="p", pod_uid="u", node=None, container="c",
                             image="nvcf-conformance/mini-service", args=(), env={{}}, pod_http_port=8000,
                             pod_grpc_port=0, values_dir=Path({str(tmp_path)!r}), workdir=Path({str(tmp_path)!r}))
        proc = ProbeProcess(launch, load_probe_modules())
        proc.start()
        while proc.poll() == "starting":
            time.sleep(0.05)
        print(json.dumps({{"pid": proc.pid, "state": proc.state}}), flush=True)
        time.sleep(600)
    """)
    holder = subprocess.Popen([sys.executable, "-c", server], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        started = json.loads(holder.stdout.readline())
        assert started["state"] == "up" and alive(started["pid"])
        os.kill(holder.pid, signal.SIGKILL)  # no chance to clean up
        holder.wait(10)
        deadline = time.monotonic() + 10
        while alive(started["pid"]):
            assert time.monotonic() < deadline, "the probe outlived its killed server"
            time.sleep(0.05)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)
