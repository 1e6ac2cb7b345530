"""Session fixtures for the chart pipeline tests: every case is built (and rendered) once, with real helm."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.charts import pipeline, render
from conformance.charts.cases import Case, load_cases
from conformance.charts.helm import Helm
from conformance.charts.pipeline import BuildReport

RUN_ID = "pytest-charts"


@pytest.fixture(scope="session")
def run_id() -> str:
    return RUN_ID


@pytest.fixture(scope="session")
def charts_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("charts-out")


@pytest.fixture(scope="session")
def all_cases() -> list[Case]:
    """Every overlay case and every refused case's fixed twin: the build treats them alike."""
    return load_cases(twins=True)


@pytest.fixture(scope="session")
def overlay_cases(all_cases: list[Case]) -> list[Case]:
    return [c for c in all_cases if not c.twin_of]


@pytest.fixture(scope="session")
def helm(charts_out: Path) -> Helm:
    return pipeline.helm_for(charts_out)


@pytest.fixture(scope="session")
def cold_build(all_cases: list[Case], charts_out: Path, helm: Helm) -> BuildReport:
    """The first build of every case into an empty store: nothing can come from the cache."""
    return pipeline.build(all_cases, RUN_ID, charts_out, helm=helm)


@pytest.fixture(scope="session")
def built(cold_build: BuildReport) -> dict[str, pipeline.BuiltChart]:
    return {chart.case.id: chart for chart in cold_build.charts}


@pytest.fixture(scope="session")
def rendered(cold_build: BuildReport, helm: Helm) -> dict[str, render.Rendered]:
    """`helm template --include-crds` of every built chart (hooks enabled), by case id."""
    by_dir = render.render_many(helm, [chart.chart_dir for chart in cold_build.charts])
    return {chart.case.id: by_dir[chart.chart_dir] for chart in cold_build.charts}
