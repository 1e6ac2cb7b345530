"""What a run leaves behind: one result per test item, the run's meta file, and the leftovers swept.

Results are written as each item's teardown ends (so an interrupted run keeps what it finished); the
controller writes the run's meta at start and completes it at the end; the janitor's sweep at session
end deletes what a test could not.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

import pytest

from conformance.client.http import NvcfClient
from conformance.client.setup_faults import setup_cause

from . import charts as chart_files
from . import results
from .context import RunContext, context
from .functions import Janitor
from .results import ITEM_KEY

RUN_ID_INPUT = "nvcf_run_id"
META_KEY = pytest.StashKey[Any]()
# The janitor and the client it sweeps with; set by the session client fixture, used at session end.
JANITOR_KEY = pytest.StashKey[tuple[Janitor, NvcfClient]]()


def register(config: pytest.Config, ctx: RunContext) -> None:
    """The recording hooks that need the run context, registered once it exists."""
    config.pluginmanager.register(_CollectedRecorder(ctx), "nvcf-conformance-collected")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(ctx), "nvcf-conformance-xdist")
    _install_sigterm(config)


class _XdistHooks:
    """Hands the controller's run id to every worker, so one run has one id."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[RUN_ID_INPUT] = self.ctx.run_id


def _install_sigterm(config: pytest.Config) -> None:
    # CI cancels with SIGTERM; turning it into KeyboardInterrupt lets fixtures clean up as on Ctrl-C.
    if threading.current_thread() is not threading.main_thread():
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    config.add_cleanup(lambda: signal.signal(signal.SIGTERM, previous))


class _CollectedRecorder:
    """Records the items left to run once every plugin has deselected (-k, --rule), so the report can tell
    an interrupted rule from a passed one. Under xdist each worker collects (the controller does not)."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        rule_of = {item.nodeid: item.stash[ITEM_KEY].rule_id for item in session.items if ITEM_KEY in item.stash}
        results.write_collected(self.ctx, rule_of)


def pytest_sessionstart(session: pytest.Session) -> None:
    ctx = context(session.config)
    if ctx.is_controller:
        command = " ".join(["pytest", *map(str, session.config.invocation_params.args)])
        session.config.stash[META_KEY] = results.start_meta(ctx, command)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report: pytest.TestReport = yield
    record = item.stash.get(ITEM_KEY, None)
    if record is None:
        return report
    record.seconds += report.duration
    results.classify(record, report, call, context(item.config).catalog[record.rule_id].level)
    if record.status == "FAIL" and report.when == "call":
        # A FAIL must be the implementation's: a registry gone away, or a backend reporting it cannot
        # reach or pull from it, makes it an ERROR of the run's set-up instead.
        cause = setup_cause(context(item.config).target, record.message)
        if cause is not None:
            record.status, record.message = "ERROR", results.one_line(cause)
    if report.when == "teardown":
        ctx = context(item.config)
        manifest = chart_files.read_shared(ctx.results_dir)
        result = results.finish(record, item, ctx, manifest)
        results.write_result(ctx, result)
        naming = results.naming_result(record, result, ctx)
        if naming is not None:
            results.write_result(ctx, naming)
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    ctx = context(session.config)
    swept = session.config.stash.get(JANITOR_KEY, None)
    if swept is not None:
        janitor, client = swept
        problems = janitor.sweep(client)
        for problem in problems:
            sys.stderr.write(f"nvcf-conformance: cleanup: {problem}\n")
        client.close()
    meta = session.config.stash.get(META_KEY, None)
    if ctx.is_controller and meta is not None:
        interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
        results.finish_meta(ctx, meta, not interrupted, chart_files.read_shared(ctx.results_dir))
