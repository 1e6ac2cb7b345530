"""The chart pipeline's mutants for chart fetching, subcharts, API versions and top-level overrides.

Each mutant must break its own rule's behaviour and leave the neighbouring behaviours alone: the
tests below show both sides.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from rc_chartkit import PushChart, RenderFiles, base_templates, workload, write_chart

from reference import rules
from reference.charts import ChartNotFoundError, RegistryAuth, RenderError, prepare
from reference.charts.dependencies import drop_missing_dependencies, vendored_charts
from reference.charts.mutate import finalize
from reference.charts.overrides import effective_configuration
from reference.charts.render import render_chart, without_subcharts
from reference.charts.validate import validate

SETTINGS = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"mode": "sub"}}
DAEMONSET = {**workload("Deployment", "agent"), "kind": "DaemonSet"}


def _marker(version: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "marker"}, "data": {"version": version}}


def _prepare(url: str, auth: list[RegistryAuth], tmp_path: Path, violate: frozenset[str] = frozenset()) -> Any:
    return prepare(url, "mini", 8000, None, registry_auth=auth, workdir=tmp_path / "work", violate=violate)


def _refs(prepared: Any) -> set[str]:
    return {item.ref for item in prepared.objects}


def test_the_new_mutant_ids_are_violable() -> None:
    new = {rules.CHART_MISSING_REFUSED, rules.SUBCHART_VALID_DEPLOYS, rules.SUBCHART_MISSING_DEPENDENCY_REFUSED,
           rules.KIND_API_VERSION_REFUSED, rules.OVERRIDES_SCALAR, rules.HOOK_FORBIDDEN_KIND_IGNORED}
    assert new <= rules.VIOLABLE


# ── CHART-MISSING-REFUSED: a version never pushed is deployed as the newest one there ─────────────


@pytest.fixture(scope="module")
def two_versions(push_chart: PushChart) -> str:
    """The URL of version 9.9.9 of a chart pushed only at 1.0.0 and 1.2.0."""
    for version in ("1.0.0", "1.2.0"):
        url = push_chart(name="versions", version=version,
                         templates={**base_templates(), "marker.yaml": _marker(version)})
    return url.replace("-1.2.0.tgz", "-9.9.9.tgz")


def test_a_missing_version_is_refused(two_versions: str, registry_auth: RegistryAuth, tmp_path: Path) -> None:
    with pytest.raises(ChartNotFoundError) as err:
        _prepare(two_versions, [registry_auth], tmp_path)
    assert "9.9.9" in err.value.reason and err.value.rule == rules.CHART_MISSING_REFUSED


def test_the_mutant_deploys_the_newest_version_instead(two_versions: str, registry_auth: RegistryAuth,
                                                       tmp_path: Path) -> None:
    out = _prepare(two_versions, [registry_auth], tmp_path, frozenset({rules.CHART_MISSING_REFUSED}))
    assert out.ok and (out.chart.name, out.chart.version) == ("versions", "9.9.9")
    marker = next(item for item in out.objects if item.ref == "ConfigMap/marker")
    assert marker.obj["data"] == {"version": "1.2.0"}


def test_the_mutant_still_refuses_a_chart_that_does_not_exist_at_all(two_versions: str,
                                                                       registry_auth: RegistryAuth,
                                                                       tmp_path: Path) -> None:
    url = two_versions.replace("/versions-9.9.9.tgz", "/never-pushed-1.0.0.tgz")
    with pytest.raises(ChartNotFoundError):
        _prepare(url, [registry_auth], tmp_path, frozenset({rules.CHART_MISSING_REFUSED}))


# ── SUBCHART-VALID-DEPLOYS: judged with its subcharts, installed without them ──────────────────────


@pytest.fixture(scope="module")
def with_subchart(push_chart: PushChart) -> str:
    return push_chart(name="parent", version="1.0.0", subcharts={"helper": {"cm.yaml": SETTINGS}})


def test_subchart_objects_are_installed(with_subchart: str, registry_auth: RegistryAuth, tmp_path: Path) -> None:
    assert "ConfigMap/settings" in _refs(_prepare(with_subchart, [registry_auth], tmp_path))


def test_the_mutant_installs_the_parent_chart_only(with_subchart: str, registry_auth: RegistryAuth,
                                                   tmp_path: Path) -> None:
    out = _prepare(with_subchart, [registry_auth], tmp_path, frozenset({rules.SUBCHART_VALID_DEPLOYS}))
    assert out.ok and _refs(out) == {"Deployment/mini", "Service/mini"}


def test_the_mutant_still_judges_the_subcharts(render_files: RenderFiles) -> None:
    rendered = render_files(subcharts={"helper": {"ds.yaml": DAEMONSET}})
    assert [o.ref for o in without_subcharts(rendered.objects)] == ["Service/mini", "Deployment/mini"]
    found = validate(rendered, service_name="mini", inference_port=8000, violate={rules.SUBCHART_VALID_DEPLOYS})
    assert [(v.rule, v.object) for v in found] == [(rules.KIND_FORBIDDEN, "DaemonSet/agent")]


# ── SUBCHART-MISSING-DEPENDENCY-REFUSED: a dependency that is not vendored is left out ───────────


def _without_vendored(tmp_path: Path) -> Path:
    chart = write_chart(tmp_path / "src", name="parent", subcharts={"helper": {"cm.yaml": SETTINGS}})
    shutil.rmtree(chart / "charts")
    return chart


def test_a_missing_dependency_cannot_render(tmp_path: Path) -> None:
    chart = _without_vendored(tmp_path)
    with pytest.raises(RenderError) as err:
        render_chart(chart, release="r", namespace="ns", values=None, workdir=tmp_path / "work")
    assert "missing in charts/" in err.value.reason and "helper" in err.value.reason


def test_the_mutant_renders_without_the_missing_dependency(tmp_path: Path) -> None:
    chart = _without_vendored(tmp_path)
    assert drop_missing_dependencies(chart) == ["helper"]
    rendered = render_chart(chart, release="r", namespace="ns", values=None, workdir=tmp_path / "work")
    assert {o.ref for o in rendered.objects} == {"Deployment/mini", "Service/mini"}
    assert drop_missing_dependencies(chart) == []  # nothing left to drop


def test_vendored_dependencies_are_kept(tmp_path: Path) -> None:
    chart = write_chart(tmp_path / "src", name="parent",
                        subcharts={"helper": {"cm.yaml": SETTINGS}, "other": {"cm.yaml": SETTINGS}})
    packed = chart / "charts" / "packed-0.2.0.tgz"
    packed.write_bytes(b"")  # archives count by their file name
    assert vendored_charts(chart) == {"helper", "other", "packed"}
    packed.unlink()
    shutil.rmtree(chart / "charts" / "other")
    assert drop_missing_dependencies(chart) == ["other"]
    rendered = render_chart(chart, release="r", namespace="ns", values=None, workdir=tmp_path / "work")
    assert "ConfigMap/settings" in {o.ref for o in rendered.objects}


# ── KIND-API-VERSION-REFUSED: an allowed kind at an old version is applied at the supported one ──


def test_the_mutant_applies_the_supported_api_version(render_files: RenderFiles) -> None:
    legacy = workload("Deployment", "legacy", api_version="apps/v1beta1")
    rendered = render_files({**base_templates(), "legacy.yaml": legacy, "ds.yaml": DAEMONSET})
    violate = {rules.KIND_API_VERSION_REFUSED}

    refused = validate(rendered, service_name="mini", inference_port=8000)
    assert {(v.rule, v.object) for v in refused} == {(rules.KIND_API_VERSION_REFUSED, "Deployment/legacy"),
                                                     (rules.KIND_FORBIDDEN, "DaemonSet/agent")}
    # Under the mutant only the forbidden kind is still refused (KIND-FORBIDDEN is not its rule).
    found = validate(rendered, service_name="mini", inference_port=8000, violate=violate)
    assert [(v.rule, v.object) for v in found] == [(rules.KIND_FORBIDDEN, "DaemonSet/agent")]

    versions = {o.ref: o.api_version for o in finalize(rendered, namespace="ns", pull_secret_names=["p"],
                                                       violate=violate)}
    assert versions == {"Deployment/legacy": "apps/v1", "Deployment/mini": "apps/v1", "Service/mini": "v1",
                        "DaemonSet/agent": "apps/v1"}
    unmutated = {o.ref: o.api_version for o in finalize(rendered, namespace="ns", pull_secret_names=["p"])}
    assert unmutated["Deployment/legacy"] == "apps/v1beta1"
    # finalize works on copies: what was rendered (and judged) keeps its version
    assert {o.ref: o.api_version for o in rendered.objects}["Deployment/legacy"] == "apps/v1beta1"


# ── OVERRIDES-SCALAR: top-level scalar keys are lost, everything nested is untouched ─────────────


def test_the_scalar_mutant_drops_top_level_scalars_only() -> None:
    configuration = {"greeting": "overridden", "replicas": 2, "flag": False,
                     "probe": {"greeting": "overridden", "nested": {"deeper": {"override": "x"}}, "list": ["a"]},
                     "list": ["b"]}
    out = effective_configuration(configuration, {}, {rules.OVERRIDES_SCALAR})
    assert out == {"probe": configuration["probe"], "list": ["b"]}


def test_the_nested_mutant_leaves_top_level_scalars_alone() -> None:
    configuration = {"greeting": "overridden", "probe": {"greeting": "overridden", "list": ["a"]}}
    out = effective_configuration(configuration, {}, {rules.OVERRIDES_NESTED})
    assert out == {"greeting": "overridden", "probe": {"list": ["a"]}}
