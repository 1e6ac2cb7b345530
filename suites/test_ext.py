"""EXT: subchart behaviour of NVIDIA's open-source NVCF (profile `ext`)."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.client import Nonconformant
from conformance.plugin import ChartRef, ChartSet, Expect
from conformance.plugin.charts import push_variant
from suites._helpers import case_kinds, subchart_object_refs


@pytest.mark.rule("SUBCHART-VALID-DEPLOYS")
@pytest.mark.case("subchart-valid")
def test_valid_subchart_deploys(chart: ChartRef, expect: Expect, inspector: Any) -> None:
    expect.deployed(chart)
    if inspector is None:
        return  # black box: ACTIVE and answering is all that can be seen
    # The rule says "together with the subchart's objects": an install of the parent chart alone is not it.
    wanted = subchart_object_refs(chart.case)
    kinds = sorted({kind for kind, _ in wanted})
    inspector.case_objects(chart.case, ["Service"])  # the inspector sees this backend's cluster at all
    found = {(o.get("kind"), (o.get("metadata") or {}).get("name")) for o in inspector.objects(chart.case, kinds)}
    missing = sorted(set(wanted) - found)
    if missing:
        raise Nonconformant(f"ACTIVE, but the subchart's objects are not in the cluster: "
                            f"{', '.join(f'{k}/{n}' for k, n in missing)}", "deployed-violating")
    expect.observed("deployed-conformant", f"ACTIVE with the subchart's {', '.join(f'{k}/{n}' for k, n in wanted)}")


@pytest.mark.rule("SUBCHART-FORBIDDEN-KIND-REFUSED")
@pytest.mark.case("subchart-forbidden-kind")
def test_subchart_forbidden_kind_refused(chart: ChartRef, expect: Expect) -> None:
    expect.refused(chart, offenders=case_kinds(chart.case))


@pytest.mark.rule("SUBCHART-MISSING-DEPENDENCY-REFUSED")
@pytest.mark.case("subchart-valid")
def test_missing_dependency_refused(chart: ChartRef, charts: ChartSet, expect: Expect, run_context: object) -> None:
    variant = push_variant(run_context, chart, version="1.0.1", drop=("charts",))  # type: ignore[arg-type]
    expect.refused(variant, offenders=["dependenc", "helm dependency", "charts/"])
