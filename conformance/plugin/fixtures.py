"""The fixtures a conformance test asks for: the target, its client, charts, functions, the cluster.

Each test gets its own transcript-recording client (`nvcf`), a `functions` factory whose functions are
undeployed and deleted after it, and the chart of its `case` marker (`chart`).
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from conformance.catalog import Rule
from conformance.client.http import NvcfClient
from conformance.errors import ConformanceError
from conformance.target.config import TargetConfig

from . import charts as chart_files
from . import grpc_spelling as spelling
from . import results
from .charts import ChartRef, ChartSet
from .context import RunContext, context
from .functions import DeployedFunction, Functions, Janitor
from .grpc_spelling import GrpcSpelling
from .recording import JANITOR_KEY
from .results import ITEM_KEY, ItemRecord
from .selection import item_case, item_param, item_rule

if TYPE_CHECKING:  # both pull in heavy clients; the fixtures import them only when a test asks
    from conformance.client.grpc import GrpcInvoker
    from conformance.inspect import Inspector


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
    pytestconfig.stash[JANITOR_KEY] = (janitor, NvcfClient(target))
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
def grpc_invoker(target: TargetConfig, nvcf: NvcfClient) -> Iterator[GrpcInvoker]:
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
    janitor, _ = pytestconfig.stash[JANITOR_KEY]
    factory = Functions(nvcf, run_context.run_id, run_context.worker, janitor)
    try:
        yield factory
    finally:
        factory.cleanup()


@pytest.fixture
def deployed_function(functions: Functions) -> Callable[..., DeployedFunction]:
    """`deployed_function(chart, configuration=..., spec=...)` → an ACTIVE `DeployedFunction` (FAIL otherwise)."""
    return functions.deployed


@pytest.fixture(scope="session")
def inspector(run_context: RunContext) -> Inspector | None:
    """The cluster inspector when a kubeconfig is configured (white-box claimed), else None."""
    if not run_context.target.kubeconfig:
        return None
    from conformance.inspect import Inspector

    return Inspector(run_context.target.kubeconfig, run_context.run_id,
                     timeout=run_context.target.timeout("cluster"))


@pytest.fixture
def cluster(inspector: Inspector | None, rule: Rule) -> Inspector:
    """The inspector, for tests that need cluster evidence: ERROR (never SKIP) when there is none."""
    if inspector is None:
        raise ConformanceError(
            f"{rule.id} needs cluster evidence but no kubeconfig is configured (set kubeconfig / KUBECONFIG)"
        )
    return inspector
