"""The pytest plugin of the conformance harness: load with `pytest -p conformance.plugin suites/`.

Split the way pytest splits its own plugins, one concern per module, each registered through
`pytest_plugins` below:
    selection     options, markers, the run context, collection checks, deselection by rule/case
    recording     one result per item, the run's meta file, the janitor's sweep at the end
    fixtures      target, clients, charts, functions, the cluster inspector
    expectations  `expect`: outcome helpers bound to the test's rule and record
This module only names them, and re-exports the types a suite annotates its arguments with.
"""

from conformance.plugin.charts import ChartRef, ChartSet
from conformance.plugin.expectations import Expect
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
from conformance.plugin.results import ItemRecord

pytest_plugins = (
    "conformance.plugin.selection",
    "conformance.plugin.recording",
    "conformance.plugin.fixtures",
    "conformance.plugin.expectations",
)

__all__ = [
    "ChartRef",
    "ChartSet",
    "DeployedFunction",
    "Expect",
    "Functions",
    "ItemRecord",
    "Observation",
    "expect_deployed",
    "expect_problem_details",
    "expect_refused",
    "expect_status",
    "names_offender",
    "params_of",
    "variants",
]
