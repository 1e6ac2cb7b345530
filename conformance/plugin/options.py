"""Command-line options and markers of the conformance plugin, declared in one place."""

from __future__ import annotations

import pytest

from conformance.catalog.schema import PROFILES

MARKERS = (
    "rule(id): the catalog rule this test asserts (exactly one per test; see `nvcf-conformance list`)",
    "case(id): the sample-chart case this test (or parametrisation) uses; one of its rule's charts",
)


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("nvcf-conformance", "NVCF conformance harness")
    group.addoption(
        "--target-config", metavar="PATH", default=None,
        help="YAML target config (layered under NVCF_* environment variables; default: the embedded env)",
    )
    group.addoption(
        "--profile", dest="nvcf_profiles", action="append", default=[], metavar="NAME",
        choices=list(PROFILES),
        help="claim an optional profile (repeatable); 'core' is always claimed, 'white-box' with a kubeconfig",
    )
    group.addoption(
        "--rule", dest="nvcf_rules", action="append", default=[], metavar="ID",
        help="run only the tests of this catalog rule (repeatable, or comma-separated)",
    )
    group.addoption(
        "--case", dest="nvcf_cases", action="append", default=[], metavar="ID",
        help="run only the tests that use this sample-chart case (repeatable, or comma-separated)",
    )
    group.addoption(
        "--set", dest="nvcf_settings", action="append", default=[], metavar="KEY=VALUE",
        help="a target config key for this run (repeatable), above the file and the environment; not secrets",
    )
    group.addoption(
        "--run-id", dest="nvcf_run_id", default=None, metavar="ID",
        help="run id stamped into function names and chart labels (default: $NVCF_CONFORMANCE_RUN_ID or a new one)",
    )
    group.addoption(
        "--results-dir", dest="nvcf_results_dir", default=None, metavar="DIR",
        help="where results-<worker>.jsonl and run-meta.json go (default reports/<run id>)",
    )
    group.addoption(
        "--charts-manifest", dest="nvcf_charts_manifest", default=None, metavar="PATH",
        help="chart manifest (`charts push --json`) to use instead of building and pushing the charts",
    )


