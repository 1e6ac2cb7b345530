"""`helm template` of every built chart renders exactly what its overlay claims, and nothing more."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from conformance.charts import render, verify
from conformance.charts.cases import CASES_DIR, case_ids, load_cases
from conformance.charts.helm import Helm
from conformance.charts.pipeline import BuiltChart
from conformance.charts.render import Doc, Rendered

CASES = case_ids()
HOOK_CASES = [c for c in CASES if c.startswith("hook-")]
FORBIDDEN_KIND_CASES = [c for c in CASES if c.startswith("kind-forbidden-")]
TWINS = [c.id for c in load_cases(twins=True) if c.twin_of]


@pytest.mark.parametrize("case_id", CASES)
def test_renders_what_the_overlay_claims(
    case_id: str, built: dict[str, BuiltChart], rendered: dict[str, Rendered]
) -> None:
    assert verify.expectation_problems(built[case_id].case, rendered[case_id]) == []


@pytest.mark.parametrize("case_id", CASES)
def test_every_object_carries_run_and_case_labels(
    case_id: str, built: dict[str, BuiltChart], rendered: dict[str, Rendered], run_id: str
) -> None:
    assert verify.label_problems(built[case_id].case, rendered[case_id], run_id) == []


@pytest.mark.parametrize("case_id", CASES)
def test_breaks_exactly_the_rule_it_is_about(
    case_id: str, built: dict[str, BuiltChart], rendered: dict[str, Rendered], helm: Helm
) -> None:
    chart = built[case_id]

    def rerender(release: str, namespace: str) -> Rendered:
        return render.render(helm, chart.chart_dir, release=release, namespace=namespace)

    assert verify.violations(chart.case, rendered[case_id], rerender) == set(chart.case.violates)


@pytest.mark.parametrize("twin_id", TWINS)
def test_fixed_twin_renders_its_claims_and_breaks_no_rule(
    twin_id: str, built: dict[str, BuiltChart], rendered: dict[str, Rendered], helm: Helm, run_id: str
) -> None:
    chart = built[twin_id]

    def rerender(release: str, namespace: str) -> Rendered:
        return render.render(helm, chart.chart_dir, release=release, namespace=namespace)

    assert verify.expectation_problems(chart.case, rendered[twin_id]) == []
    assert verify.label_problems(chart.case, rendered[twin_id], run_id) == []
    assert verify.twin_problems(chart.case, rendered[twin_id], rerender) == []


def test_twin_problems_name_what_a_twin_still_breaks(
    built: dict[str, BuiltChart], rendered: dict[str, Rendered]
) -> None:
    # A "twin" that is really its case: the static proof must refuse it.
    twin = built["kind-forbidden-daemonset-twin"].case
    (problem,) = verify.twin_problems(twin, rendered["kind-forbidden-daemonset"])
    assert problem.startswith("the fixed twin of kind-forbidden-daemonset still breaks forbidden-kind")


def test_limit_twins_sit_right_at_the_limit(rendered: dict[str, Rendered]) -> None:
    assert len(rendered["objects-301-twin"].objects) == verify.MAX_OBJECTS
    doc = rendered["object-too-large-twin"].find("ConfigMap", "large-configmap")
    # Within 2 KiB of the limit: the twin drops only the padding annotation that put it over.
    assert doc is not None and verify.MAX_DOCUMENT_BYTES - 2048 < doc.size <= verify.MAX_DOCUMENT_BYTES


@pytest.mark.parametrize("case_id", HOOK_CASES)
def test_hooks_render_only_with_hooks_enabled(
    case_id: str, built: dict[str, BuiltChart], rendered: dict[str, Rendered], helm: Helm
) -> None:
    chart = built[case_id]
    with_hooks = rendered[case_id]
    assert len(with_hooks.hooks) == 1
    hook = with_hooks.hooks[0]
    expected = "test" if case_id == "hook-test" else case_id.removeprefix("hook-")
    if case_id == "hook-forbidden-kind":
        expected = "pre-install"
    assert hook.metadata["annotations"]["helm.sh/hook"] == expected
    no_hooks = render.render(helm, chart.chart_dir, hooks=False)
    assert no_hooks.hooks == ()
    assert [d.text for d in no_hooks.objects] == [d.text for d in with_hooks.objects]
    assert verify.expectation_problems(chart.case, with_hooks, no_hooks) == []


@pytest.mark.parametrize("case_id", FORBIDDEN_KIND_CASES)
def test_forbidden_kind_chart_contains_that_kind(case_id: str, rendered: dict[str, Rendered]) -> None:
    wanted = case_id.removeprefix("kind-forbidden-").replace("custom-resource", "widget")
    assert [d.kind for d in rendered[case_id].objects if d.kind.lower() == wanted] != []


def test_object_limit_cases_are_exact(rendered: dict[str, Rendered]) -> None:
    assert len(rendered["objects-300"].objects) == 300
    assert len(rendered["objects-301"].objects) == 301


def _pod_spec(rendered: Rendered, kind: str, name: str) -> dict[str, Any]:
    doc = rendered.find(kind, name)
    assert doc is not None, f"{kind}/{name} not rendered"
    spec = verify.pod_spec(doc)
    assert spec is not None
    return spec


def test_minimal_chart_is_restricted_and_uses_env_downward_api(rendered: dict[str, Rendered]) -> None:
    result = rendered["minimal-http"]
    spec = _pod_spec(result, "Deployment", "mini-service")
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 65532
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "volumes" not in spec  # fieldRef env, not a downwardAPI volume
    (container,) = spec["containers"]
    assert container["image"] == "nvcf-conformance/mini-service:0.1.0"
    assert container["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert set(container["resources"]["limits"]) == {"cpu", "memory"}
    env = {e["name"]: e for e in container["env"]}
    for name, path in (
        ("POD_NAME", "metadata.name"),
        ("POD_NAMESPACE", "metadata.namespace"),
        ("NODE_NAME", "spec.nodeName"),
    ):
        assert env[name]["valueFrom"]["fieldRef"]["fieldPath"] == path
    assert env["MINI_SERVICE_HTTP_PORT"]["value"] == "8000"
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    service = result.find("Service", "minimal-http")
    assert service is not None and "type" not in service.obj["spec"]
    assert service.obj["spec"]["ports"][0]["port"] == 8000


def test_service_name_is_a_literal_in_the_chart(built: dict[str, BuiltChart]) -> None:
    source = (built["minimal-http"].chart_dir / "templates" / "service.yaml").read_text()
    assert "name: minimal-http\n" in source


def test_grpc_service_exposes_the_grpc_port(rendered: dict[str, Rendered]) -> None:
    service = rendered["grpc"].find("Service", "grpc")
    assert service is not None
    assert service.obj["spec"]["ports"] == [{"name": "grpc", "port": 8001, "targetPort": "grpc", "protocol": "TCP"}]


def test_templated_service_name_matches_only_its_own_release(built: dict[str, BuiltChart], helm: Helm) -> None:
    chart = built["service-name-templated"]
    own = render.render(helm, chart.chart_dir, release="service-name-templated")
    assert verify.service_status(chart.case, own) == "match"
    assert [d.name for d in render.render(helm, chart.chart_dir).objects if d.kind == "Service"] == [
        "mini-service-service-name-templated"
    ]


def test_multinode_places_one_gpu_pod_per_node(rendered: dict[str, Rendered]) -> None:
    result = rendered["multinode"]
    sts = result.find("StatefulSet", "mini-service")
    assert sts is not None
    assert sts.obj["spec"]["podManagementPolicy"] == "Parallel"
    assert sts.obj["spec"]["replicas"] == 2
    assert sts.obj["spec"]["serviceName"] == "multinode-headless"
    spec = verify.pod_spec(sts)
    assert spec is not None
    resources = spec["containers"][0]["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == 8 and resources["requests"]["nvidia.com/gpu"] == 8
    (term,) = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"].items() <= sts.obj["spec"]["template"]["metadata"]["labels"].items()
    head = result.find("Service", "multinode")
    headless = result.find("Service", "multinode-headless")
    assert head is not None and headless is not None
    assert head.obj["spec"]["selector"]["apps.kubernetes.io/pod-index"] == "0"
    assert headless.obj["spec"]["clusterIP"] == "None"


def test_overrides_render_values_into_configmap_and_env(
    rendered: dict[str, Rendered], helm: Helm, built: dict[str, BuiltChart], tmp_path: Any
) -> None:
    override = tmp_path / "configuration.yaml"
    override.write_text(
        yaml.safe_dump({"probe": {"greeting": "overridden", "nested": {"deeper": {"override": "x"}}, "list": ["only"]}})
    )
    result = render.render(helm, built["overrides"].chart_dir, values=[override])
    cm = result.find("ConfigMap", "overrides-values")
    assert cm is not None
    values = yaml.safe_load(cm.obj["data"]["values.yaml"])
    assert values == {
        "greeting": "overridden",
        "nested": {
            "keep": "chart-default",
            "override": "chart-default",
            "deeper": {"keep": "chart-default", "override": "x"},
        },
        "list": ["only"],
    }
    spec = _pod_spec(result, "Deployment", "mini-service")
    env = {e["name"]: e.get("value") for e in spec["containers"][0]["env"]}
    assert env["PROBE_GREETING"] == "overridden"
    assert yaml.safe_load(env["PROBE_VALUES_JSON"]) == values
    assert {"name": "values", "mountPath": "/etc/mini-service/values", "readOnly": True} in spec["containers"][0][
        "volumeMounts"
    ]


def _workload_pod_specs(rendered: Rendered) -> Iterator[tuple[Doc, dict[str, Any]]]:
    for doc in rendered.objects:
        spec = verify.pod_spec(doc)
        if spec is not None:
            yield doc, spec


def test_pull_secret_cases(rendered: dict[str, Rendered]) -> None:
    specs = list(_workload_pod_specs(rendered["pull-secrets-all-pod-specs"]))
    assert sorted(doc.kind for doc, _ in specs) == ["CronJob", "Deployment", "Job", "Pod", "ReplicaSet", "StatefulSet"]
    assert all("imagePullSecrets" not in spec for _, spec in specs)
    provided = rendered["pull-secrets-chart-provided"]
    (deployment_spec,) = [spec for _, spec in _workload_pod_specs(provided)]
    assert deployment_spec["imagePullSecrets"] == [{"name": "chart-pull-secret"}]
    secret = provided.find("Secret", "chart-pull-secret")
    assert secret is not None and secret.obj["type"] == "kubernetes.io/dockerconfigjson"


def test_object_too_large_is_over_the_limit_but_a_valid_configmap(rendered: dict[str, Rendered]) -> None:
    doc = rendered["object-too-large"].find("ConfigMap", "large-configmap")
    assert doc is not None
    assert doc.size > verify.MAX_DOCUMENT_BYTES > 1024 * 1024
    data_bytes = sum(len(k) + len(v.encode()) for k, v in doc.obj["data"].items())
    assert data_bytes <= 1024 * 1024  # Kubernetes' own ConfigMap limit is not the rule this case breaks


def test_subchart_objects_come_from_the_subchart(rendered: dict[str, Rendered]) -> None:
    daemonsets = [d for d in rendered["subchart-forbidden-kind"].objects if d.kind == "DaemonSet"]
    assert [d.source for d in daemonsets] == ["subchart-forbidden-kind/charts/agent/templates/daemonset.yaml"]
    configmaps = [d for d in rendered["subchart-valid"].objects if d.kind == "ConfigMap"]
    assert [d.source for d in configmaps] == ["subchart-valid/charts/settings/templates/configmap.yaml"]


def test_crd_cases(rendered: dict[str, Rendered], helm: Helm, built: dict[str, BuiltChart]) -> None:
    in_dir = rendered["crd-in-crds-dir"].find(
        "CustomResourceDefinition", "dirwidgets.pytest-charts.nvcf-conformance.io"
    )
    assert in_dir is not None and in_dir.source == "crd-in-crds-dir/crds/dirwidgets.yaml"
    # Without --include-crds, helm template leaves crds/ out: the CRD really lives in crds/.
    plain = render.render(helm, built["crd-in-crds-dir"].chart_dir, include_crds=False)
    assert "CustomResourceDefinition" not in plain.kinds()
    in_templates = rendered["crd-in-templates"].find(
        "CustomResourceDefinition", "templatewidgets.pytest-charts.nvcf-conformance.io"
    )
    assert in_templates is not None and in_templates.source.startswith("crd-in-templates/templates/")


def test_overlay_files_have_no_leftover_tokens(built: dict[str, BuiltChart]) -> None:
    for chart in built.values():
        for path in chart.chart_dir.rglob("*"):
            if path.is_file() and path.suffix in {".yaml", ".tpl"}:
                assert "__SERVICE_NAME__" not in path.read_text() and "__RUN_ID__" not in path.read_text(), path


def test_case_files_are_all_overlays() -> None:
    assert sorted(p.stem for p in CASES_DIR.glob("*.yaml")) == CASES
