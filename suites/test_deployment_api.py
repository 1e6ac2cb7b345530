"""Deployment API checks that need no running workload: specification validation."""

from __future__ import annotations

import pytest

from conformance.plugin import ChartRef, Expect, Functions, params_of
from conformance.target.config import TargetConfig
from suites._helpers import malformed_instance_type

pytestmark = pytest.mark.case("minimal-http")


def _new(functions: Functions, chart: ChartRef) -> tuple[str, str]:
    function = functions.create(chart).expect(200, 201).field("function")
    return str(function["id"]), str(function["versionId"])


@pytest.mark.rule("DEPLOY-MIN-LE-MAX")
def test_min_above_max_refused(functions: Functions, chart: ChartRef, expect: Expect) -> None:
    fid, vid = _new(functions, chart)
    expect.status(functions.deploy(fid, vid, functions.spec(chart, minInstances=2, maxInstances=1)), 400)


@pytest.mark.rule("ITYPE-MALFORMED-REFUSED")
@pytest.mark.parametrize("param", params_of("ITYPE-MALFORMED-REFUSED"))
def test_malformed_instance_type_refused(param: str, functions: Functions, chart: ChartRef, target: TargetConfig,
                                         expect: Expect) -> None:
    instance_type = malformed_instance_type(target, param)
    spec = functions.spec(chart, instanceType=instance_type)
    expect.refused(chart, offenders=[instance_type, "instanceType"], spec=spec)
