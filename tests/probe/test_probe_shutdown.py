"""The probe's shutdown under hostile signal timing: it always exits, and a second signal ends it at once.

The probe once set a threading.Event from its SIGTERM handler; a signal landing while that Event's
lock was held (inside the handler itself, say, during a burst) deadlocked it for good, ports open.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from mini_service import launch
from mini_service.shutdown import FORCED_EXIT_BASE, STOP_OVERRAN_STATUS

HOST = "127.0.0.1"
START_TIMEOUT = 20.0
# Generous for two shared cores; a healthy probe stops in well under a second.
EXIT_BOUND = 5.0
# "At once": os._exit from a thread that only waits for this, no graceful work in between.
FORCED_EXIT_BOUND = 1.0
ITERATIONS = 36
PARALLEL = 3

Pattern = Literal["single", "sigint", "storm", "early-storm"]


@dataclass(frozen=True)
class Outcome:
    pattern: Pattern
    seconds: float | None  # None: still running after EXIT_BOUND
    returncode: int | None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _start(stderr: Path) -> subprocess.Popen[str]:
    argv = [*launch.command(sys.executable), "--host", HOST, "--http-port", str(_free_port()),
            "--grpc-port", str(_free_port()), "--values-dir", str(stderr.parent / "no-values")]
    with stderr.open("w") as err:
        return subprocess.Popen(argv, env=launch.environment(), stdout=subprocess.PIPE, stderr=err, text=True)


def _wait_ready(proc: subprocess.Popen[str], stderr: Path) -> tuple[int, int]:
    assert proc.stdout is not None
    # readline blocks, but the probe either prints the line or exits (EOF) well within the timeout.
    line = proc.stdout.readline()
    ports = launch.parse_ready_line(line)
    assert ports is not None and ports[0] and ports[1], f"no ready line: {line!r}; stderr: {stderr.read_text()!r}"
    return ports[0], ports[1]


@contextmanager
def _probe(stderr: Path) -> Iterator[subprocess.Popen[str]]:
    proc = _start(stderr)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def _storm(pid: int, rng: random.Random, signums: tuple[int, ...]) -> None:
    """Many signals microseconds apart, so some land while the probe is still handling an earlier one."""
    for _ in range(rng.randint(50, 200)):
        try:
            os.kill(pid, rng.choice(signums))
        except ProcessLookupError:
            return
        pause_until = time.perf_counter() + rng.uniform(0, 30e-6)
        while time.perf_counter() < pause_until:  # finer than sleep() can pause
            pass


def _exit_time(proc: subprocess.Popen[str], sent_at: float) -> float | None:
    try:
        proc.wait(EXIT_BOUND)
    except subprocess.TimeoutExpired:
        return None
    return time.monotonic() - sent_at


def _one_run(seed: int, tmp: Path) -> Outcome:
    rng = random.Random(seed)
    pattern: Pattern = rng.choice(("single", "sigint", "storm", "storm", "early-storm"))
    stderr = tmp / f"probe-{seed}.stderr"
    with _probe(stderr) as proc:
        if pattern == "early-storm":
            # Before the ready line: while importing, binding, or right after the handlers went in.
            time.sleep(rng.uniform(0, 0.4))
            sent_at = time.monotonic()
            _storm(proc.pid, rng, (signal.SIGTERM,))
        else:
            _wait_ready(proc, stderr)
            time.sleep(rng.uniform(0, 1.0))
            sent_at = time.monotonic()
            if pattern == "storm":
                _storm(proc.pid, rng, (signal.SIGTERM, signal.SIGINT))
            else:
                proc.send_signal(signal.SIGINT if pattern == "sigint" else signal.SIGTERM)
        return Outcome(pattern, _exit_time(proc, sent_at), proc.poll())


def test_the_probe_exits_whatever_the_signal_timing(tmp_path: Path) -> None:
    with ThreadPoolExecutor(PARALLEL) as pool:
        outcomes = list(pool.map(lambda seed: _one_run(seed, tmp_path), range(ITERATIONS)))
    hung = [o for o in outcomes if o.seconds is None]
    assert not hung, f"{len(hung)}/{ITERATIONS} probes still ran {EXIT_BOUND:g} s after a stop signal: {hung}"
    forced = {FORCED_EXIT_BASE + signal.SIGTERM, FORCED_EXIT_BASE + signal.SIGINT}
    for outcome in outcomes:
        if outcome.pattern in ("single", "sigint"):
            assert outcome.returncode == 0, outcome
        elif outcome.pattern == "storm":
            assert outcome.returncode in {0, *forced}, outcome
        else:  # a signal before the handlers went in takes the default action
            assert outcome.returncode in {0, -signal.SIGTERM, *forced}, outcome


@contextmanager
def _open_health_watch(grpc_port: int) -> Iterator[None]:
    """A server-streaming call that stays open, so the probe's graceful stop has to wait for it."""
    with grpc.insecure_channel(f"{HOST}:{grpc_port}", options=[("grpc.enable_http_proxy", 0)]) as channel:
        stream = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
        first = next(stream)
        assert first.status == health_pb2.HealthCheckResponse.SERVING
        try:
            yield
        finally:
            stream.cancel()


def test_a_graceful_stop_waits_for_open_calls_but_only_a_couple_of_seconds(tmp_path: Path) -> None:
    stderr = tmp_path / "probe.stderr"
    with _probe(stderr) as proc:
        _, grpc_port = _wait_ready(proc, stderr)
        with _open_health_watch(grpc_port):
            sent_at = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            took = _exit_time(proc, sent_at)
    assert took is not None and proc.returncode == 0, (took, proc.returncode, stderr.read_text())
    assert took < 3.5, took


def test_a_second_signal_ends_a_graceful_stop_at_once(tmp_path: Path) -> None:
    stderr = tmp_path / "probe.stderr"
    with _probe(stderr) as proc:
        _, grpc_port = _wait_ready(proc, stderr)
        with _open_health_watch(grpc_port):
            proc.send_signal(signal.SIGTERM)
            # The open call holds the graceful stop for ~2 s; the second signal lands inside it.
            time.sleep(0.3)
            assert proc.poll() is None, "the graceful stop did not wait for the open call"
            sent_at = time.monotonic()
            proc.send_signal(signal.SIGINT)
            took = _exit_time(proc, sent_at)
    assert took is not None and took < FORCED_EXIT_BOUND, took
    assert proc.returncode == FORCED_EXIT_BASE + signal.SIGINT


_OVERRUNNING_STOP = """
import sys, time
from mini_service.shutdown import SignalShutdown
with SignalShutdown(stop_deadline=float(sys.argv[1])) as shutdown:
    print("armed", flush=True)
    shutdown.wait()
    time.sleep(60)  # a graceful stop that never finishes
"""


def test_a_stop_that_overruns_its_deadline_is_cut_short(tmp_path: Path) -> None:
    deadline = 0.5
    proc = subprocess.Popen([sys.executable, "-c", _OVERRUNNING_STOP, str(deadline)], env=launch.environment(),
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "armed\n"
        sent_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        took = _exit_time(proc, sent_at)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        assert proc.stdout is not None
        proc.stdout.close()
    assert took is not None and deadline <= took < deadline + FORCED_EXIT_BOUND, took
    assert proc.returncode == STOP_OVERRAN_STATUS
