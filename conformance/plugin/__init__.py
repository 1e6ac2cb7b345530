"""The pytest plugin of the conformance harness: load with `pytest -p conformance.plugin suites/`.

Options, markers, fixtures and hooks live in `plugin.py`; this module re-exports them because pytest
looks for hooks and fixtures on the module named by `-p`.
"""

from conformance.plugin.charts import ChartRef, ChartSet
from conformance.plugin.functions import DeployedFunction, Functions
from conformance.plugin.outcomes import (
    Observation,
    expect_deployed,
    expect_problem_details,
    expect_refused,
    expect_status,
    names_offender,
)
from conformance.plugin.params import params_of, variants
from conformance.plugin.plugin import (
    Expect,
    _session_client,
    chart,
    charts,
    cluster,
    deployed_function,
    expect,
    functions,
    grpc_chart,
    grpc_invoker,
    grpc_spelling,
    inspector,
    nvcf,
    pytest_addoption,
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_pycollect_makeitem,
    pytest_runtest_makereport,
    pytest_sessionfinish,
    pytest_sessionstart,
    record,
    rule,
    run_context,
    run_id,
    target,
)
from conformance.plugin.results import ItemRecord

__all__ = [
    "ChartRef",
    "ChartSet",
    "DeployedFunction",
    "Expect",
    "Functions",
    "ItemRecord",
    "Observation",
    "_session_client",
    "chart",
    "charts",
    "cluster",
    "deployed_function",
    "expect",
    "expect_deployed",
    "expect_problem_details",
    "expect_refused",
    "expect_status",
    "functions",
    "grpc_chart",
    "grpc_invoker",
    "grpc_spelling",
    "inspector",
    "names_offender",
    "nvcf",
    "params_of",
    "pytest_addoption",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_pycollect_makeitem",
    "pytest_runtest_makereport",
    "pytest_sessionfinish",
    "pytest_sessionstart",
    "record",
    "rule",
    "run_context",
    "run_id",
    "target",
    "variants",
]
