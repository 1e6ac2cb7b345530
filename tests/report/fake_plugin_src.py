"""A stand-in for conformance.plugin that honours its contract, for the `run` CLI tests.

Options as the real plugin's; each test's `rule` marker names the rule; results go to
<results-dir>/results-<worker>.jsonl as TestResult JSON lines, the collected items per rule to
collected-<worker>.json; run-meta.json says complete=false until the session ends normally. A test
that raises ConnectionError is an ERROR (environment), like the real one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.catalog import load_catalog
from conformance.report.model import RunMeta, TestResult

CATALOG = load_catalog()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance")
    group.addoption("--target-config")
    group.addoption("--profile", action="append", default=[])
    group.addoption("--rule", action="append", default=[])
    group.addoption("--case", action="append", default=[])
    group.addoption("--run-id", default="fake")
    group.addoption("--results-dir")
    group.addoption("--charts-manifest")


def _worker(config: pytest.Config) -> str:
    # workerinput, not PYTEST_XDIST_WORKER: the outer test session may itself run under xdist, and
    # its worker's environment is inherited by this inner pytest.
    workerinput = getattr(config, "workerinput", None)
    return workerinput["workerid"] if workerinput else "main"


def _write_meta(config: pytest.Config, complete: bool) -> None:
    if getattr(config, "workerinput", None):
        return
    meta = RunMeta(run_id=config.getoption("--run-id"), harness_version="0.1.0", implementation="fake-nvcf",
                   implementation_version="0.0.1", profiles=tuple(config.getoption("--profile")),
                   target={"config": config.getoption("--target-config")}, started_at="2025-01-01T00:00:00+00:00",
                   complete=complete, command="pytest " + " ".join(config.invocation_params.args))
    Path(config.getoption("--results-dir"), "run-meta.json").write_text(json.dumps(meta.to_dict()))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rule(id): the catalog rule a test asserts")
    if config.getoption("--results-dir"):
        _write_meta(config, complete=False)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rules = config.getoption("--rule")
    if rules:
        items[:] = [i for i in items if i.get_closest_marker("rule").args[0] in rules]


def pytest_collection_finish(session: pytest.Session) -> None:
    results_dir = session.config.getoption("--results-dir")
    if not results_dir:
        return
    rules: dict[str, list[str]] = {}
    for item in session.items:
        rules.setdefault(item.get_closest_marker("rule").args[0], []).append(item.nodeid)
    Path(results_dir, f"collected-{_worker(session.config)}.json").write_text(json.dumps({"rules": rules}))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" and not report.skipped:
        return
    rule = CATALOG[item.get_closest_marker("rule").args[0]]
    if report.passed:
        status = "PASS"
    elif report.skipped:
        status = "SKIP"
    elif call.excinfo is not None and call.excinfo.errisinstance(ConnectionError):
        status = "ERROR"
    else:
        status = "FAIL"
    message = str(call.excinfo.value) if call.excinfo is not None else "ok"
    result = TestResult(nodeid=item.nodeid, rule_id=rule.id, level=rule.level, profiles=rule.profiles,
                        status=status, case=rule.charts[0], message=message, duration_s=report.duration)
    path = Path(item.config.getoption("--results-dir"), f"results-{_worker(item.config)}.jsonl")
    with path.open("a") as out:
        out.write(json.dumps(result.to_dict()) + "\n")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if session.config.getoption("--results-dir"):
        _write_meta(session.config, complete=exitstatus in (0, 1))
