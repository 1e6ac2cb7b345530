"""Kinds: each allowed kind deploys; each other kind is refused naming it."""

from __future__ import annotations

import pytest

from conformance.plugin import ChartRef, ChartSet, Expect, variants
from suites._helpers import case_kinds


@pytest.mark.rule("KIND-ALLOWED")
@pytest.mark.parametrize(("param", "case"), variants("KIND-ALLOWED"))
def test_allowed_kind_deploys(param: str, case: str, charts: ChartSet, expect: Expect) -> None:
    expect.deployed(charts[case])


@pytest.mark.rule("KIND-FORBIDDEN")
@pytest.mark.parametrize(("param", "case"), variants("KIND-FORBIDDEN"))
def test_forbidden_kind_refused(param: str, case: str, charts: ChartSet, expect: Expect) -> None:
    offenders = case_kinds(case) if param == "custom-resource" else [param]
    expect.refused(charts[case], offenders=offenders)


@pytest.mark.rule("KIND-LIST-REFUSED")
@pytest.mark.case("kind-list")
def test_kind_list_refused(chart: ChartRef, expect: Expect) -> None:
    # NVIDIA's validator says "object 2 is not a valid Kubernetes type (does not implement metav1.Object)".
    expect.refused(chart, offenders=["List", "metav1.Object", "not a valid Kubernetes type"])


@pytest.mark.rule("KIND-API-VERSION-REFUSED")
@pytest.mark.case("apiversion-apps-v1beta1")
def test_unsupported_api_version_refused(chart: ChartRef, expect: Expect) -> None:
    expect.refused(chart, offenders=["apps/v1beta1", "v1beta1"])
