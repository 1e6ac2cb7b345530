"""CustomResourceDefinitions in a chart are skipped on installation: the rest deploys, no CRD appears."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.client import Nonconformant
from conformance.inspect import summary
from conformance.plugin import ChartSet, DeployedFunction, Expect, variants
from suites._helpers import case_kinds


def _crds_of(inspector: Any, case: str) -> list[dict[str, Any]]:
    kinds = set(case_kinds(case)) - {"CustomResourceDefinition"}
    everything = inspector.crds()
    return [c for c in everything if (c.get("spec") or {}).get("names", {}).get("kind") in kinds
            or "nvcf-conformance.io" in (c.get("metadata") or {}).get("name", "")]


@pytest.mark.rule("CRD-CHART-DEPLOYS")
@pytest.mark.parametrize(("param", "case"), variants("CRD-CHART-DEPLOYS"))
def test_chart_with_crd_deploys(param: str, case: str, charts: ChartSet, expect: Expect) -> None:
    expect.deployed(charts[case])


@pytest.mark.rule("CRD-NOT-INSTALLED")
@pytest.mark.parametrize(("param", "case"), variants("CRD-NOT-INSTALLED"))
def test_crd_not_installed(param: str, case: str, charts: ChartSet, expect: Expect, cluster: Any) -> None:
    def check(deployed: DeployedFunction) -> tuple[str, str]:
        cluster.case_objects(case, ["Service"])  # the inspector sees this backend's cluster at all
        found = _crds_of(cluster, case)
        if found:
            raise Nonconformant(f"the chart's CRD was installed: {', '.join(map(summary, found))}",
                                "deployed-violating")
        return "deployed-object-skipped", "ACTIVE and the chart's CRD is not in the cluster"

    # The rule's only outcome is skipping: a refusal is reported by deployed_or_refused as not allowed.
    expect.deployed_or_refused(charts[case], offenders=["CustomResourceDefinition"], check=check)
