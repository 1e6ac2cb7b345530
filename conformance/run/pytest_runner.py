"""Run the suites as a pytest subprocess and survive Ctrl-C long enough to write the report.

pytest runs in its own process group, so a terminal Ctrl-C reaches only us and we decide what the
child gets: the first SIGINT/SIGTERM is passed on as one SIGINT (pytest stops and runs its teardown,
which deletes what the run created), a second one is passed on too (pytest then aborts teardown), a
third kills the group. Either way we wait for the child and then write the report, marked incomplete.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

# pytest's own exit codes (pytest.ExitCode), spelled out so a reader of the CLI sees the mapping.
PYTEST_OK, PYTEST_TESTS_FAILED, PYTEST_INTERRUPTED, PYTEST_INTERNAL, PYTEST_USAGE, PYTEST_NO_TESTS = range(6)

# The suites load only the plugins they use (the harness's and xdist): every other installed plugin would
# be imported again by each worker (hypothesis and schemathesis alone take ~4 s per process here).
# NVCF_PYTEST_AUTOLOAD=1 loads them all again, for `-- PYTEST_ARGS` that rely on one.
AUTOLOAD_ENV = "NVCF_PYTEST_AUTOLOAD"


def _autoload() -> bool:
    return os.environ.get(AUTOLOAD_ENV) == "1"


PYTEST_PROBLEMS = {
    PYTEST_INTERRUPTED: "pytest stopped early (interrupted, or errors while collecting the suites)",
    PYTEST_INTERNAL: "pytest had an internal error (a harness defect)",
    PYTEST_USAGE: "pytest refused its command line (a usage or configuration error)",
    PYTEST_NO_TESTS: "no tests were collected (check --rule/--case/--profile)",
}


@dataclass(frozen=True)
class PytestRun:
    returncode: int
    interrupted: bool  # we received SIGINT/SIGTERM while it ran

    def problem(self) -> str | None:
        """Why this pytest exit leaves the run without a verdict, or None."""
        if self.returncode < 0:
            return f"pytest was killed by signal {-self.returncode}"
        if self.returncode in (PYTEST_OK, PYTEST_TESTS_FAILED):
            return None
        return PYTEST_PROBLEMS.get(self.returncode, f"pytest exited with an unexpected code {self.returncode}")


def pytest_command(
    suites: Path,
    *,
    plugin: str,
    run_id: str,
    results_dir: Path,
    profiles: Sequence[str] = (),
    rules: Sequence[str] = (),
    cases: Sequence[str] = (),
    target_config: Path | None = None,
    settings: Sequence[str] = (),
    charts_manifest: Path | None = None,
    workers: str | None = None,
    extra: Sequence[str] = (),
    items: Sequence[str] = (),
) -> list[str]:
    """The pytest command of a run; `items` (pytest node ids, see rerun.py) replace the whole suites."""
    cmd = [sys.executable, "-m", "pytest", *(items or [str(suites)]), "-p", plugin,
           *(() if _autoload() else ("-p", "xdist.plugin")),
           "--run-id", run_id, "--results-dir", str(results_dir)]
    for profile in profiles:
        cmd += ["--profile", profile]
    for rule in rules:
        cmd += ["--rule", rule]
    for case in cases:
        cmd += ["--case", case]
    if target_config is not None:
        cmd += ["--target-config", str(target_config)]
    for setting in settings:
        cmd += ["--set", setting]
    if charts_manifest is not None:
        cmd += ["--charts-manifest", str(charts_manifest)]
    if workers is not None:
        cmd += ["-n", workers]
    return [*cmd, *extra]


def run_pytest(cmd: Sequence[str], env: dict[str, str] | None = None) -> PytestRun:
    children: list[subprocess.Popen[bytes]] = []
    signals_seen = 0

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen == 1:
            print("\nnvcf-conformance: interrupted; stopping the suites and cleaning up "
                  "(press Ctrl-C again to skip the cleanup)", file=sys.stderr, flush=True)
        sig = signal.SIGINT if signals_seen <= 2 else signal.SIGKILL
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, sig)

    # Installed before the suites start, on purpose: a caught signal is reset to its default in the
    # child, while an ignored one (as in a shell's background job) would stay ignored there, and the
    # suites could never be interrupted.
    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    proc: subprocess.Popen[bytes] | None = None
    try:
        env = dict(os.environ if env is None else env)
        if not _autoload():
            env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        proc = subprocess.Popen(list(cmd), env=env, process_group=0)
        children.append(proc)
        if signals_seen:  # interrupted while starting
            os.killpg(proc.pid, signal.SIGINT)
        returncode = proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if proc is not None and proc.poll() is None:  # leaving through an exception: do not orphan the suites
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return PytestRun(returncode=returncode, interrupted=signals_seen > 0)
