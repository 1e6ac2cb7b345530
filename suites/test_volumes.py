"""Pod volumes: the five allowed types deploy; every other type (and other projected sources) is refused."""

from __future__ import annotations

import pytest

from conformance.plugin import ChartSet, Expect, variants
from suites._helpers import case_overlay


def _volume_names(case: str) -> list[str]:
    """The case's volume names: NVIDIA's validator names a refused volume by its name, never its type.

    The overlays give offending volumes distinctive names (`nvcfc-hostpath`); generic words would
    "match" any error, so they never count as naming it."""
    volumes = (case_overlay(case).values.get("miniService") or {}).get("volumes") or []
    return [v["name"] for v in volumes if v.get("name") not in (None, "forbidden", "volume", "data")]


@pytest.mark.rule("VOL-ALLOWED")
@pytest.mark.parametrize(("param", "case"), variants("VOL-ALLOWED"))
def test_allowed_volume_deploys(param: str, case: str, charts: ChartSet, expect: Expect) -> None:
    expect.deployed(charts[case])


@pytest.mark.rule("VOL-FORBIDDEN")
@pytest.mark.parametrize(("param", "case"), variants("VOL-FORBIDDEN"))
def test_forbidden_volume_refused(param: str, case: str, charts: ChartSet, expect: Expect) -> None:
    expect.refused(charts[case], offenders=[param, *_volume_names(case)])


@pytest.mark.rule("VOL-PROJECTED-SOURCE-FORBIDDEN")
@pytest.mark.parametrize(("param", "case"), variants("VOL-PROJECTED-SOURCE-FORBIDDEN"))
def test_forbidden_projected_source_refused(param: str, case: str, charts: ChartSet, expect: Expect) -> None:
    expect.refused(charts[case], offenders=[param, *_volume_names(case)])
