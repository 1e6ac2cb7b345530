"""prepare() end to end: real registry, real helm; typed errors outward, never a traceback."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from rc_chartkit import POD_KINDS, PushChart, base_templates, crd, hook, pod_spec, workload, write_chart

from conformance.env.registry import RegistryEndpoint
from reference import rules
from reference.charts import (
    ChartError,
    ChartNotFoundError,
    ChartUrlError,
    RegistryAuth,
    RegistryAuthError,
    RenderError,
    prepare,
)
from reference.charts.errors import ChartMismatchError
from reference.charts.mutate import VERSION_LABEL
from reference.charts.pipeline import Limits, _check_identity
from reference.charts.render import RenderLimits
from reference.charts.url import parse_chart_url

FORBIDDEN_SWITCH = """{{- if .Values.forbidden }}
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: switched-on
{{- end }}
"""


@pytest.fixture(scope="module")
def busy_chart(push_chart: PushChart) -> str:
    """Every pod kind, a hook, a CRD, and a values switch that renders a forbidden kind."""
    templates: dict[str, Any] = {**base_templates(), "switch.yaml": FORBIDDEN_SWITCH,
                                 "hook.yaml": hook(workload("Job", "migrate")), "crd.yaml": crd()}
    for kind in POD_KINDS:
        templates[f"w-{kind.lower()}.yaml"] = workload(kind, f"w-{kind.lower()}")
    return push_chart(name="busy", version="2.0.0", templates=templates, values={"forbidden": False})


def _prepare(url: str, auth: Any, tmp_path: Path, **kwargs: Any) -> Any:
    kwargs.setdefault("service_name", "mini")
    kwargs.setdefault("inference_port", 8000)
    kwargs.setdefault("configuration", None)
    return prepare(url, kwargs.pop("service_name"), kwargs.pop("inference_port"), kwargs.pop("configuration"),
                   registry_auth=auth, workdir=tmp_path / "work", **kwargs)


def test_prepare_a_clean_chart(busy_chart: str, registry_auth: RegistryAuth, tmp_path: Path) -> None:
    out = _prepare(busy_chart, [registry_auth], tmp_path, version_id="fv-1", namespace="sr-abc",
                   pull_secret_name="pull-me")
    assert out.ok and out.violations == () and out.reason() == ""
    assert (out.chart.name, out.chart.version) == ("busy", "2.0.0")
    assert [str(h) for h in out.dropped_hooks] == ["Job/migrate (busy/templates/hook.yaml): pre-install"]
    assert out.skipped_crds == ("CustomResourceDefinition/widgets.example.com (busy/templates/crd.yaml)",)
    manifests = out.manifests()
    assert manifests[0] is out.pull_secret and manifests[0]["metadata"]["name"] == "pull-me"
    auths = json.loads(base64.b64decode(out.pull_secret["data"][".dockerconfigjson"]))["auths"]
    assert set(auths) == {registry_auth.registry}
    refs = {o.ref for o in out.objects}
    assert refs == {"Deployment/mini", "Service/mini", *(f"{k}/w-{k.lower()}" for k in POD_KINDS)}
    for item in out.objects:
        assert item.obj["metadata"]["namespace"] == "sr-abc"
        assert item.obj["metadata"]["labels"][VERSION_LABEL] == "fv-1"
        spec = item.pod_spec()
        if spec is not None:
            assert spec["imagePullSecrets"] == [{"name": "pull-me"}], item.ref
    # the work folder is cleaned up: nothing with the chart or the login stays behind
    assert list((tmp_path / "work").iterdir()) == []


def test_configuration_is_validated_with_the_chart(busy_chart: str, registry_auth: RegistryAuth,
                                                   tmp_path: Path) -> None:
    out = _prepare(busy_chart, registry_auth, tmp_path, configuration={"forbidden": True})
    (found,) = out.violations
    assert (found.rule, found.object) == (rules.KIND_FORBIDDEN, "DaemonSet/switched-on")
    assert "DaemonSet" in out.reason()
    # the OVERRIDES-VALIDATED mutant judges the defaults but applies the overridden render
    mutant = _prepare(busy_chart, registry_auth, tmp_path, configuration={"forbidden": True},
                      violate={rules.OVERRIDES_VALIDATED})
    assert mutant.ok and "DaemonSet/switched-on" in {o.ref for o in mutant.objects}


def test_enforced_policy_through_prepare(push_chart: PushChart, registry_auth: RegistryAuth, tmp_path: Path) -> None:
    url = push_chart(name="privileged", templates={**base_templates(), "p.yaml": workload(
        "Pod", "p", pod_spec(hostNetwork=True))})
    assert _prepare(url, registry_auth, tmp_path).ok
    enforced = _prepare(url, registry_auth, tmp_path, policy="enforced")
    assert [v.rule for v in enforced.violations] == [rules.SEC_HOST_NAMESPACES_ENFORCED]


def test_hook_and_crd_mutants_through_prepare(busy_chart: str, registry_auth: RegistryAuth, tmp_path: Path) -> None:
    out = _prepare(busy_chart, registry_auth, tmp_path, violate={rules.HOOKS_NOT_CREATED, rules.CRD_NOT_INSTALLED})
    refs = {o.ref for o in out.objects}
    assert {"Job/migrate", "CustomResourceDefinition/widgets.example.com"} <= refs
    assert out.dropped_hooks == () and out.skipped_crds == ()


def test_list_mutant_unpacks_items(push_chart: PushChart, registry_auth: RegistryAuth, tmp_path: Path) -> None:
    listed = {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "inside"}}]}
    url = push_chart(name="listed", templates={**base_templates(), "list.yaml": listed})
    (found,) = _prepare(url, registry_auth, tmp_path).violations
    assert (found.rule, found.object) == (rules.KIND_LIST_REFUSED, "List/(unnamed)")
    mutant = _prepare(url, registry_auth, tmp_path, violate={rules.KIND_LIST_REFUSED})
    assert mutant.ok and "ConfigMap/inside" in {o.ref for o in mutant.objects}


def test_dashed_version_refused_unless_violated(push_chart: PushChart, registry_auth: RegistryAuth,
                                                tmp_path: Path) -> None:
    url = push_chart(name="dashed", version="1.0.0-rc1")
    with pytest.raises(ChartUrlError) as info:
        _prepare(url, registry_auth, tmp_path)
    assert info.value.rule == rules.CHART_VERSION_DASH_REFUSED
    assert _prepare(url, registry_auth, tmp_path, violate={rules.CHART_VERSION_DASH_REFUSED}).ok


def test_errors_are_typed(busy_chart: str, registry: RegistryEndpoint, registry_auth: RegistryAuth,
                         push_chart: PushChart, tmp_path: Path) -> None:
    with pytest.raises(ChartUrlError):
        _prepare(busy_chart.replace("oci://", "ftp://"), registry_auth, tmp_path)
    with pytest.raises(ChartNotFoundError):
        _prepare(busy_chart.replace("2.0.0", "3.0.0"), registry_auth, tmp_path)
    with pytest.raises(RegistryAuthError):
        _prepare(busy_chart, RegistryAuth(registry.address, registry.username, "nope"), tmp_path)
    with pytest.raises(ChartError, match="JSON object"):
        _prepare(busy_chart, registry_auth, tmp_path, configuration=["not", "a", "map"])
    broken = push_chart(name="broken", templates={"x.yaml": "{{ .Values.missing.deeper }}"})
    with pytest.raises(RenderError, match=r"nil pointer|missing"):
        _prepare(broken, registry_auth, tmp_path)
    tiny = push_chart(name="tiny-limit")
    with pytest.raises(ChartError, match="larger than"):
        _prepare(tiny, registry_auth, tmp_path, limits=Limits(render=RenderLimits(max_output_bytes=10)))
    assert list((tmp_path / "work").iterdir()) == []


def test_the_archive_must_hold_the_chart_the_url_names(tmp_path: Path) -> None:
    chart = write_chart(tmp_path, name="other", version="1.0.0")
    with pytest.raises(ChartMismatchError, match="other"):
        _check_identity(parse_chart_url("https://h.example/x/charts/wanted-1.0.0.tgz"), chart, RenderLimits())
