"""Fixtures for the reference chart-pipeline tests: render a chart folder, push a chart to the registry."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from rc_chartkit import PushChart, RenderFiles, Template, chart_url, package, push, write_chart

from conformance.env.registry import RegistryEndpoint
from reference.charts.credentials import RegistryAuth
from reference.charts.render import Rendered, render_chart

_counter = itertools.count()


@pytest.fixture
def render_files(tmp_path: Path) -> RenderFiles:
    """render_files(templates=..., values=..., configuration=..., crds=..., subcharts=...) → Rendered."""

    def render(
        templates: Mapping[str, Template] | None = None,
        *,
        configuration: Mapping[str, Any] | None = None,
        namespace: str = "ns-test",
        **chart: Any,
    ) -> Rendered:
        root = tmp_path / f"chart-{next(_counter)}"
        chart_dir = write_chart(root, templates=templates, **chart)
        return render_chart(chart_dir, release="mini-service", namespace=namespace, values=configuration,
                            workdir=root / "work")

    return render


@pytest.fixture(scope="session")
def registry_auth(registry: RegistryEndpoint) -> RegistryAuth:
    return RegistryAuth(registry.address, registry.username, registry.password)


@pytest.fixture(scope="session")
def push_chart(registry: RegistryEndpoint, tmp_path_factory: pytest.TempPathFactory) -> PushChart:
    """push_chart(name=..., version=..., templates=..., ...) → the documented-form URL of the pushed chart."""
    home = tmp_path_factory.mktemp("push-helm")

    def push_one(*, repository: str = "team/charts", **chart: Any) -> str:
        root = tmp_path_factory.mktemp("pushed")
        chart_dir = write_chart(root, **chart)
        archive = package(chart_dir, root / "dist")
        push(archive, registry, repository, home)
        name, version = chart.get("name", "mini"), chart.get("version", "1.0.0")
        return chart_url(registry, repository, name, version)

    return push_one
