"""The 300-object limit of a rendered chart, and (EXT) the per-object size limit."""

from __future__ import annotations

import pytest

from conformance.plugin import ChartRef, Expect


@pytest.mark.rule("OBJECTS-MAX-300-ACCEPTED")
@pytest.mark.case("objects-300")
def test_300_objects_deploy(chart: ChartRef, expect: Expect) -> None:
    expect.deployed(chart)


@pytest.mark.rule("OBJECTS-OVER-300-REFUSED")
@pytest.mark.case("objects-301")
def test_301_objects_refused(chart: ChartRef, expect: Expect) -> None:
    expect.refused(chart, offenders=["300"])


@pytest.mark.rule("OBJECT-SIZE-LIMIT")
@pytest.mark.case("object-too-large")
def test_object_size_limit(chart: ChartRef, expect: Expect) -> None:
    expect.refused(chart, offenders=["1049600", "1048576", "1 MiB", "MiB", "bytes", "too large", "larger than"])
