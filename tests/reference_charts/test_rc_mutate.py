"""What gets applied: pull secrets in every pod spec, hooks and CRDs left out, version labels, namespace."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from rc_chartkit import POD_KINDS, RenderFiles, base_templates, crd, hook, pod_spec, workload

from reference import rules
from reference.charts.credentials import RegistryAuth
from reference.charts.mutate import VERSION_LABEL, finalize, merge_pull_secrets, pull_secret_manifest
from reference.charts.objects import Manifest
from reference.charts.overrides import effective_configuration

OURS = "nvcf-pull"


@pytest.fixture
def rendered(render_files: RenderFiles) -> Any:
    templates: dict[str, Any] = {**base_templates()}
    for kind in POD_KINDS:
        templates[f"w-{kind.lower()}.yaml"] = workload(kind, f"w-{kind.lower()}")
    chart_secrets = [{"name": "chart-a"}, {"name": OURS}, {"name": "chart-a"}, {"name": "chart-b"}]
    templates["kept.yaml"] = workload("Job", "kept", pod_spec(imagePullSecrets=chart_secrets))
    templates["hook.yaml"] = hook(workload("Pod", "hooked"))
    templates["crd.yaml"] = crd()
    templates["elsewhere.yaml"] = {"apiVersion": "v1", "kind": "ConfigMap",
                                   "metadata": {"name": "elsewhere", "namespace": "kube-system"}}
    return render_files(templates)


def _secrets(item: Manifest) -> list[str] | None:
    spec = item.pod_spec()
    if spec is None or "imagePullSecrets" not in spec:
        return None
    return [s["name"] for s in spec["imagePullSecrets"]]


def _by_ref(items: list[Manifest]) -> dict[str, Manifest]:
    return {i.ref: i for i in items}


def test_every_pod_spec_gets_the_pull_secret(rendered: Any) -> None:
    out = _by_ref(finalize(rendered, namespace="ns", pull_secret_names=[OURS]))
    for kind in [*POD_KINDS]:
        assert _secrets(out[f"{kind}/w-{kind.lower()}"]) == [OURS], kind
    assert _secrets(out["Deployment/mini"]) == [OURS]
    assert _secrets(out["Service/mini"]) is None and "imagePullSecrets" not in json.dumps(out["Service/mini"].obj)


def test_chart_provided_secrets_are_kept_first_and_deduplicated(rendered: Any) -> None:
    out = _by_ref(finalize(rendered, namespace="ns", pull_secret_names=[OURS, "second"]))
    assert _secrets(out["Job/kept"]) == ["chart-a", OURS, "chart-b", "second"]
    assert merge_pull_secrets([{"name": "x"}, "junk", {"nope": 1}], ["x", "y"]) == [{"name": "x"}, {"name": "y"}]


def test_hooks_and_crds_are_left_out_and_the_rest_is_labelled_and_namespaced(rendered: Any) -> None:
    out = finalize(rendered, namespace="ns", pull_secret_names=[OURS], version_id="v-123")
    refs = {i.ref for i in out}
    assert "Pod/hooked" not in refs and not any(i.is_crd for i in out)
    assert len(out) == len(rendered.objects)
    for item in out:
        assert item.obj["metadata"]["namespace"] == "ns", item.ref
        assert item.obj["metadata"]["labels"][VERSION_LABEL] == "v-123", item.ref
        meta = item.pod_metadata()
        if meta is not None:
            assert meta["labels"][VERSION_LABEL] == "v-123", item.ref
    deployment = _by_ref(out)["Deployment/mini"]
    assert deployment.obj["spec"]["selector"] == {"matchLabels": {"app": "mini"}}  # selectors untouched


def test_the_rendered_objects_are_not_modified(rendered: Any) -> None:
    before = json.dumps([i.obj for i in rendered.objects], sort_keys=True)
    finalize(rendered, namespace="ns", pull_secret_names=[OURS], version_id="v1")
    assert json.dumps([i.obj for i in rendered.objects], sort_keys=True) == before


def test_pull_secret_mutants(rendered: Any) -> None:
    skipped = _by_ref(finalize(rendered, namespace="ns", pull_secret_names=[OURS],
                               violate={rules.PULL_SECRETS_ALL_PODS}))
    assert _secrets(skipped["Deployment/mini"]) is None
    assert _secrets(skipped["Job/kept"]) == ["chart-a", OURS, "chart-a", "chart-b"]  # untouched
    dropped = _by_ref(finalize(rendered, namespace="ns", pull_secret_names=[OURS],
                               violate={rules.PULL_SECRETS_CHART_KEPT}))
    assert _secrets(dropped["Job/kept"]) == [OURS] and _secrets(dropped["Deployment/mini"]) == [OURS]


@pytest.mark.parametrize("rule", [rules.HOOKS_NOT_CREATED, rules.HOOKS_NOT_RUN])
def test_hook_mutants_keep_hooks(rendered: Any, rule: str) -> None:
    out = _by_ref(finalize(rendered, namespace="ns", pull_secret_names=[OURS], violate={rule}))
    assert "Pod/hooked" in out and _secrets(out["Pod/hooked"]) == [OURS]


def test_crd_mutant_keeps_crds_cluster_scoped(rendered: Any) -> None:
    out = _by_ref(finalize(rendered, namespace="ns", pull_secret_names=[OURS], violate={rules.CRD_NOT_INSTALLED}))
    kept = out["CustomResourceDefinition/widgets.example.com"]
    assert "namespace" not in kept.obj["metadata"]


def test_the_pull_secret_manifest_carries_every_registry() -> None:
    auths = [RegistryAuth("127.0.0.1:5000", "u", "p@ss"), RegistryAuth("nvcr.io", "$oauthtoken", "key")]
    secret = pull_secret_manifest("pull", "ns", auths, version_id="v1")
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    assert secret["metadata"] == {"name": "pull", "namespace": "ns", "labels": {VERSION_LABEL: "v1"}}
    config = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    assert config["auths"]["127.0.0.1:5000"]["auth"] == base64.b64encode(b"u:p@ss").decode()
    assert set(config["auths"]) == {"127.0.0.1:5000", "nvcr.io"}
    assert "p@ss" not in repr(auths[0])


def test_version_ids_must_be_label_values(rendered: Any) -> None:
    with pytest.raises(ValueError, match="label value"):
        finalize(rendered, namespace="ns", pull_secret_names=[OURS], version_id="not a label!")


# ── override mutants (correct behaviour is helm's own merge, tested in test_rc_render) ────────

DEFAULTS = {"s": "chart", "m": {"a": 1, "b": 2, "n": {"x": 1, "y": 2}}, "l": [1, 2], "keep": "k"}
CONFIG = {"s": "new", "m": {"b": 20, "n": {"y": 3}}, "l": [9], "gone": None}


def test_without_mutants_the_configuration_passes_through_unchanged() -> None:
    assert effective_configuration(CONFIG, DEFAULTS, set()) == CONFIG


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (rules.OVERRIDES_NULL_REMOVES, {"s": "new", "m": {"b": 20, "n": {"y": 3}}, "l": [9]}),
        (rules.OVERRIDES_SCALAR, {"m": {"b": 20, "n": {"y": 3}}, "l": [9]}),
        (rules.OVERRIDES_NESTED, {"s": "new", "m": {}, "l": [9], "gone": None}),
        (rules.OVERRIDES_LISTS_REPLACE, {"s": "new", "m": {"b": 20, "n": {"y": 3}}, "l": [1, 2, 9], "gone": None}),
        (rules.OVERRIDES_MAPS_MERGE, {"s": "new", "m": {"a": None, "b": 20, "n": {"x": None, "y": 3}}, "l": [9],
                                      "gone": None}),
        (rules.OVERRIDES_UNSET_KEEP_DEFAULTS, {"keep": None, **CONFIG}),
    ],
)
def test_override_mutants(rule: str, expected: dict[str, Any]) -> None:
    assert effective_configuration(CONFIG, DEFAULTS, {rule}) == expected
