"""The pytest hooks and fixtures of the conformance harness (`-p conformance.plugin`)."""

from __future__ import annotations

import contextlib
import functools
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.catalog import Rule
from conformance.catalog.schema import EXCLUSIVE_PROFILES
from conformance.client.http import NvcfClient
from conformance.client.setup_faults import setup_cause
from conformance.errors import ConformanceError
from conformance.target.config import TargetConfig, load_target

from . import charts as chart_files
from . import grpc_spelling as spelling
from . import results
from .charts import ChartRef, ChartSet
from .context import CONTEXT_KEY, RunContext, choose_run_id, context, default_results_dir, shared_catalog
from .functions import Functions, Janitor
from .grpc_spelling import GrpcSpelling
from .options import MARKERS, add_options, split_values
from .outcomes import (
    Observation,
    expect_deployed,
    expect_deployed_or_refused,
    expect_problem_details,
    expect_refused,
    expect_status,
)
from .results import ITEM_KEY, ItemRecord

RUN_ID_INPUT = "nvcf_run_id"


# ── configuration ───────────────────────────────────────────────────────────────────────────────────


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    try:
        run_id = choose_run_id(config.getoption("nvcf_run_id"), (workerinput or {}).get(RUN_ID_INPUT))
        path = config.getoption("target_config")
        target = load_target(path)
        catalog = shared_catalog()
    except ConformanceError as exc:
        raise pytest.UsageError(str(exc)) from None
    claimed = {"core", *target.profiles, *split_values(config.getoption("nvcf_profiles"))}
    if target.kubeconfig:
        claimed.add("white-box")
    for pair in EXCLUSIVE_PROFILES:
        if pair <= claimed:
            raise pytest.UsageError(f"profiles {' and '.join(sorted(pair))} exclude each other: claim one")
    rules = frozenset(split_values(config.getoption("nvcf_rules")))
    unknown = sorted(r for r in rules if r not in catalog)
    if unknown:
        raise pytest.UsageError(f"--rule {unknown[0]}: no such rule in the catalog (see `nvcf-conformance list`)")
    results_dir = config.getoption("nvcf_results_dir")
    ctx = RunContext(
        catalog=catalog,
        target=target,
        run_id=run_id,
        claimed=frozenset(claimed),
        results_dir=Path(results_dir).resolve() if results_dir else default_results_dir(run_id),
        worker=workerinput["workerid"] if workerinput else "main",
        target_config_path=str(Path(path).resolve()) if path else None,
        charts_manifest=config.getoption("nvcf_charts_manifest"),
        rules=rules,
        cases=frozenset(split_values(config.getoption("nvcf_cases"))),
    )
    config.stash[CONTEXT_KEY] = ctx
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


# ── collection ──────────────────────────────────────────────────────────────────────────────────────


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> Any:
    made = yield
    config = collector.config
    if CONTEXT_KEY not in config.stash:
        return made
    ctx = context(config)
    items = made if isinstance(made, list) else [made] if made is not None else []
    for item in items:
        if isinstance(item, pytest.Function):
            problem = _marker_problem(item, ctx)
            if problem:
                raise collector.CollectError(f"{item.nodeid}: {problem}")
    return made


def _marker_problem(item: pytest.Item, ctx: RunContext) -> str | None:
    ids = list(dict.fromkeys(arg for mark in item.iter_markers("rule") for arg in mark.args))
    if not ids:
        return "carries no @pytest.mark.rule(ID); every conformance test asserts exactly one catalog rule"
    if len(ids) > 1:
        return f"carries several rule markers ({', '.join(map(str, ids))}); a test asserts exactly one rule"
    rule = ctx.catalog.get(str(ids[0]))
    if rule is None:
        return f"rule('{ids[0]}') names no rule of the catalog (see `nvcf-conformance list`)"
    cases = {arg for mark in item.iter_markers("case") for arg in mark.args}
    if len(cases) > 1:
        return f"carries several case markers ({', '.join(sorted(cases))})"
    if cases and next(iter(cases)) not in rule.charts:
        return f"case('{next(iter(cases))}') is not one of rule {rule.id}'s charts ({', '.join(rule.charts)})"
    return None


def item_rule(item: pytest.Item) -> Rule:
    mark = item.get_closest_marker("rule")
    assert mark is not None  # guaranteed by collection
    return context(item.config).catalog[str(mark.args[0])]


def item_case(item: pytest.Item) -> str | None:
    mark = item.get_closest_marker("case")
    return str(mark.args[0]) if mark else None


def item_param(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    value = callspec.params.get("param")
    return None if value is None else str(value)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    ctx = context(config)
    selected, deselected = [], []
    for item in items:
        rule, case = item_rule(item), item_case(item)
        if (ctx.rules and rule.id not in ctx.rules) or (ctx.cases and case not in ctx.cases):
            deselected.append(item)
            continue
        selected.append(item)
        record = ItemRecord(rule.id, case, item_param(item))
        item.stash[ITEM_KEY] = record
        if not rule.applies(ctx.claimed):
            missing = sorted(set(rule.profiles) - ctx.claimed)
            record.gated = (
                f"{rule.level} rule {rule.id} needs profile(s) {', '.join(missing)}, not claimed by this run"
                + (" (give a kubeconfig)" if "white-box" in missing else f" (claim with --profile {missing[0]})")
            )
            item.add_marker(pytest.mark.skip(reason=record.gated))
        elif case:
            ctx.needed_cases.add(case)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


class _CollectedRecorder:
    """Records the items left to run once every plugin has deselected (-k, --rule), so the report can tell
    an interrupted rule from a passed one. Under xdist each worker collects (the controller does not)."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        rule_of = {item.nodeid: item.stash[ITEM_KEY].rule_id for item in session.items if ITEM_KEY in item.stash}
        results.write_collected(self.ctx, rule_of)


# ── results ─────────────────────────────────────────────────────────────────────────────────────────


def pytest_sessionstart(session: pytest.Session) -> None:
    ctx = context(session.config)
    if ctx.is_controller:
        command = " ".join(["pytest", *map(str, session.config.invocation_params.args)])
        session.config.stash[_META_KEY] = results.start_meta(ctx, command)


_META_KEY = pytest.StashKey[Any]()
_JANITOR_KEY = pytest.StashKey[tuple[Janitor, NvcfClient]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report: pytest.TestReport = yield
    record = item.stash.get(ITEM_KEY, None)
    if record is None:
        return report
    record.seconds += report.duration
    results.classify(record, report, call, item_rule(item).level)
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
    swept = session.config.stash.get(_JANITOR_KEY, None)
    if swept is not None:
        janitor, client = swept
        problems = janitor.sweep(client)
        for problem in problems:
            sys.stderr.write(f"nvcf-conformance: cleanup: {problem}\n")
        client.close()
    meta = session.config.stash.get(_META_KEY, None)
    if ctx.is_controller and meta is not None:
        interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
        results.finish_meta(ctx, meta, not interrupted, chart_files.read_shared(ctx.results_dir))


# ── fixtures ────────────────────────────────────────────────────────────────────────────────────────


@pytest.fixture(scope="session")
def run_context(pytestconfig: pytest.Config) -> RunContext:
    """The run's id, claimed profiles, target and catalog."""
    return context(pytestconfig)


@pytest.fixture(scope="session")
def target(run_context: RunContext) -> TargetConfig:
    """The effective target configuration."""
    return run_context.target


@pytest.fixture(scope="session")
def run_id(run_context: RunContext) -> str:
    return run_context.run_id


@pytest.fixture(scope="session")
def _session_client(pytestconfig: pytest.Config, target: TargetConfig) -> Iterator[NvcfClient]:
    client = NvcfClient(target)
    # The janitor uses a client of its own: the per-test clients' transcripts end with their tests.
    janitor = Janitor(on_leftover=functools.partial(results.write_leftover, context(pytestconfig)))
    pytestconfig.stash[_JANITOR_KEY] = (janitor, NvcfClient(target))
    yield client
    client.close()


@pytest.fixture
def record(request: pytest.FixtureRequest) -> ItemRecord:
    """This test's result record: its transcript, observed outcome, cluster objects."""
    found = request.node.stash.get(ITEM_KEY, None)
    if found is None:
        found = ItemRecord(item_rule(request.node).id, item_case(request.node), item_param(request.node))
        request.node.stash[ITEM_KEY] = found
    return found


@pytest.fixture
def rule(request: pytest.FixtureRequest) -> Rule:
    """The catalog rule this test asserts."""
    return item_rule(request.node)


@pytest.fixture
def nvcf(_session_client: NvcfClient, record: ItemRecord) -> NvcfClient:
    """An NVCF client whose every exchange lands in this test's transcript."""
    return _session_client.for_test(record.transcript)


@pytest.fixture
def grpc_invoker(target: TargetConfig, nvcf: NvcfClient) -> Iterator[Any]:
    """gRPC invocation through the target's gRPC endpoint, recorded in this test's transcript."""
    from conformance.client.grpc import GrpcInvoker

    invoker = GrpcInvoker(target, transcript=nvcf.transcript, redactor=nvcf.redactor)
    yield invoker
    invoker.close()


@pytest.fixture(scope="session")
def grpc_spelling(run_context: RunContext, charts: ChartSet, _session_client: NvcfClient) -> GrpcSpelling:
    """The `inferenceUrl` the backend honours for gRPC (configured, or detected once per run)."""
    chart = charts["grpc"]
    name = f"nvcfc-{run_context.run_id}-grpc-detect"
    configured = str(run_context.target["nvcf.grpc_inference_url"])
    return spelling.shared(run_context.results_dir,
                           lambda: spelling.detect(_session_client, chart, name, configured))


@pytest.fixture
def grpc_chart(chart: ChartRef, grpc_spelling: GrpcSpelling, record: ItemRecord) -> ChartRef:
    """This test's chart with the gRPC `inferenceUrl` the backend honours (noted on the result)."""
    record.note_fact(f"gRPC functions created with inferenceUrl {grpc_spelling.url} ({grpc_spelling.how})")
    return chart.with_inference_url(grpc_spelling.url)


@pytest.fixture(scope="session")
def charts(run_context: RunContext) -> ChartSet:
    """The run's sample charts: from --charts-manifest, else built and pushed to the target's registry."""
    if run_context.charts_manifest:
        chart_set = chart_files.load_manifest(run_context.charts_manifest)
        _share(run_context, chart_set)
        return chart_set
    return chart_files.provision(run_context.target, run_context.run_id, run_context.needed_cases,
                                 run_context.results_dir)


def _share(ctx: RunContext, chart_set: ChartSet) -> None:
    import json

    ctx.results_dir.mkdir(parents=True, exist_ok=True)
    path = ctx.results_dir / chart_files.SHARED_FILE
    with contextlib.suppress(OSError):
        path.write_text(json.dumps({"charts": chart_set.entries, "registry": chart_set.registry,
                                    "repository": chart_set.repository}, indent=2) + "\n")


@pytest.fixture
def chart(request: pytest.FixtureRequest, charts: ChartSet) -> ChartRef:
    """The chart of this test's `case` marker."""
    case = item_case(request.node)
    if case is None:
        raise ConformanceError(f"{request.node.nodeid} uses the `chart` fixture but has no @pytest.mark.case(ID)")
    return charts[case]


@pytest.fixture
def functions(pytestconfig: pytest.Config, nvcf: NvcfClient, run_context: RunContext,
              _session_client: NvcfClient) -> Iterator[Functions]:
    """Create functions with unique names; everything created is undeployed and deleted afterwards."""
    janitor, _ = pytestconfig.stash[_JANITOR_KEY]
    factory = Functions(nvcf, run_context.run_id, run_context.worker, janitor)
    try:
        yield factory
    finally:
        factory.cleanup()


@pytest.fixture
def deployed_function(functions: Functions) -> Any:
    """`deployed_function(chart, configuration=..., spec=...)` → an ACTIVE `DeployedFunction` (FAIL otherwise)."""
    return functions.deployed


class Expect:
    """The outcome helpers bound to this test's rule, factory and record."""

    def __init__(self, functions: Functions, rule: Rule, record: ItemRecord) -> None:
        self.functions = functions
        self.rule = rule
        self.record = record

    def refused(self, chart: ChartRef, *, offenders: list[str], **kwargs: Any) -> Observation:
        return expect_refused(self.functions, chart, self.rule, offenders=offenders, record=self.record, **kwargs)

    def deployed(self, chart: ChartRef, **kwargs: Any) -> Observation:
        return expect_deployed(self.functions, chart, self.rule, record=self.record, **kwargs)

    def deployed_or_refused(self, chart: ChartRef, *, offenders: list[str], **kwargs: Any) -> Observation:
        return expect_deployed_or_refused(self.functions, chart, self.rule, offenders=offenders,
                                          record=self.record, **kwargs)

    def status(self, reply: Any, *codes: int) -> Observation:
        return expect_status(reply, self.rule, self.record, *codes)

    def problem_details(self, reply: Any) -> Observation:
        return expect_problem_details(reply, self.rule, self.record)

    def observed(self, outcome: str, detail: str = "") -> None:
        """Record an outcome a test established by itself (it must be in the rule's set)."""
        from .outcomes import _accept

        _accept(self.rule, self.record, outcome, detail)


@pytest.fixture
def expect(functions: Functions, rule: Rule, record: ItemRecord) -> Expect:
    """Outcome helpers: `expect.refused(chart, offenders=[...])`, `expect.deployed(chart)`, `expect.status(r, 400)`."""
    return Expect(functions, rule, record)


@pytest.fixture(scope="session")
def inspector(run_context: RunContext) -> Any:
    """The cluster inspector when a kubeconfig is configured (white-box claimed), else None."""
    if not run_context.target.kubeconfig:
        return None
    from conformance.inspect import Inspector

    return Inspector(run_context.target.kubeconfig, run_context.run_id,
                     timeout=run_context.target.timeout("cluster"))


@pytest.fixture
def cluster(inspector: Any, rule: Rule) -> Any:
    """The inspector, for tests that need cluster evidence: ERROR (never SKIP) when there is none."""
    if inspector is None:
        raise ConformanceError(
            f"{rule.id} needs cluster evidence but no kubeconfig is configured (set kubeconfig / KUBECONFIG)"
        )
    return inspector
