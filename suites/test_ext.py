"""EXT: subchart behaviour of NVIDIA's open-source NVCF (profile `ext`)."""

from __future__ import annotations

import pytest

from conformance.plugin import ChartRef, ChartSet, Expect
from conformance.plugin.charts import push_variant
from suites._helpers import case_kinds


@pytest.mark.rule("SUBCHART-VALID-DEPLOYS")
@pytest.mark.case("subchart-valid")
def test_valid_subchart_deploys(chart: ChartRef, expect: Expect) -> None:
    expect.deployed(chart)


@pytest.mark.rule("SUBCHART-FORBIDDEN-KIND-REFUSED")
@pytest.mark.case("subchart-forbidden-kind")
def test_subchart_forbidden_kind_refused(chart: ChartRef, expect: Expect) -> None:
    expect.refused(chart, offenders=case_kinds(chart.case))


@pytest.mark.rule("SUBCHART-MISSING-DEPENDENCY-REFUSED")
@pytest.mark.case("subchart-valid")
def test_missing_dependency_refused(chart: ChartRef, charts: ChartSet, expect: Expect, run_context: object) -> None:
    variant = push_variant(run_context, chart, version="1.0.1", drop=("charts",))  # type: ignore[arg-type]
    expect.refused(variant, offenders=["dependenc", "helm dependency", "charts/"])
