"""Rendering with real helm: hooks identified and dropped, CRDs set apart, values merged like `-f`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rc_chartkit import RenderFiles, base_templates, crd, hook, workload, write_chart

from reference.charts.errors import ManifestError, RenderError
from reference.charts.render import RenderLimits, render_chart, split_documents
from reference.charts.validate import validate


def _refs(items: list) -> list[str]:
    return sorted(i.ref for i in items)


def test_hooks_are_identified_with_their_events_and_kept_out_of_the_objects(render_files: RenderFiles) -> None:
    templates = {
        **base_templates(),
        "hooks.yaml": [
            hook(workload("Job", "migrate"), "pre-install,pre-upgrade"),
            hook({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"}}, "post-install"),
            hook(workload("Pod", "smoke"), "test"),
            hook({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "odd"}}, "banana"),
        ],
    }
    rendered = render_files(templates)
    assert _refs(rendered.objects) == ["Deployment/mini", "Service/mini"]
    assert {h.ref: h.hook_events for h in rendered.hooks} == {
        "Job/migrate": ("pre-install", "pre-upgrade"),
        "DaemonSet/agent": ("post-install",),
        "Pod/smoke": ("test",),
    }
    # helm itself discards hooks of a type it does not know; we still learn the type
    assert rendered.unknown_hooks == ["banana"]
    assert all(h.source == "mini/templates/hooks.yaml" for h in rendered.hooks)


def test_a_hook_of_a_forbidden_kind_is_not_judged(render_files: RenderFiles) -> None:
    templates = {**base_templates(), "hook.yaml": hook({"apiVersion": "apps/v1", "kind": "DaemonSet",
                                                        "metadata": {"name": "agent"}})}
    rendered = render_files(templates)
    assert validate(rendered, service_name="mini", inference_port=8000) == []


def test_crds_from_crds_dir_and_templates_are_set_apart(render_files: RenderFiles) -> None:
    rendered = render_files(
        {**base_templates(), "crd.yaml": crd("gadgets")},
        crds={"both.yaml": [crd("widgets"), crd("gizmos")]},
    )
    assert _refs(rendered.objects) == ["Deployment/mini", "Service/mini"]
    assert {c.name: c.source for c in rendered.crds} == {
        "widgets.example.com": "mini/crds/both.yaml",
        # the second document of a crds/ file has no Source line of its own: it inherits the file's
        "gizmos.example.com": "mini/crds/both.yaml",
        "gadgets.example.com": "mini/templates/crd.yaml",
    }


def test_subchart_objects_render_into_the_same_manifest(render_files: RenderFiles) -> None:
    rendered = render_files(subcharts={"helper": {"cm.yaml": {"apiVersion": "v1", "kind": "ConfigMap",
                                                              "metadata": {"name": "helper-cm"}}}})
    sub = next(o for o in rendered.objects if o.name == "helper-cm")
    assert sub.source == "mini/charts/helper/templates/cm.yaml" and sub.in_subchart


OVERRIDE_TEMPLATE = """apiVersion: v1
kind: ConfigMap
metadata:
  name: values
  namespace: {{ .Release.Namespace }}
data:
  values.json: {{ toJson .Values | quote }}
"""


def test_configuration_merges_like_a_helm_values_file(render_files: RenderFiles) -> None:
    defaults = {"scalar": "chart", "untouched": "kept", "list": [1, 2, 3], "dropme": "here",
                "nested": {"keep": "a", "change": "b", "deep": {"p": 1, "q": 2}}}
    configuration = {"scalar": "override", "nested": {"change": "B", "deep": {"q": 20}}, "list": [9], "dropme": None}
    rendered = render_files({"values.yaml": OVERRIDE_TEMPLATE}, values=defaults, configuration=configuration)
    (cm,) = rendered.objects
    assert cm.obj["metadata"]["namespace"] == "ns-test"
    assert json.loads(cm.obj["data"]["values.json"]) == {
        "scalar": "override",  # scalars replace
        "untouched": "kept",  # keys not named keep the chart's default
        "nested": {"keep": "a", "change": "B", "deep": {"p": 1, "q": 20}},  # maps merge, at every depth
        "list": [9],  # lists replace, never merge
        # null deleted `dropme`
    }


def test_a_missing_dependency_is_a_render_error(tmp_path: Path) -> None:
    chart = write_chart(tmp_path, chart_fields={"dependencies": [{"name": "absent", "version": "0.1.0"}]})
    with pytest.raises(RenderError) as info:
        render_chart(chart, release="r", namespace="n", values={}, workdir=tmp_path / "work")
    assert "absent" in info.value.reason and "charts/" in info.value.reason
    assert str(tmp_path) not in info.value.reason  # our temporary paths mean nothing to a user


def test_a_failing_template_is_a_render_error(render_files: RenderFiles) -> None:
    with pytest.raises(RenderError) as info:
        render_files({"boom.yaml": '{{ fail "the chart refuses these values" }}'})
    assert "the chart refuses these values" in info.value.reason


BOMB = """apiVersion: v1
kind: ConfigMap
metadata:
  name: bomb
data:
  a: &a ["x","x","x","x","x","x","x","x","x","x"]
  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]
  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]
  e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]
  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]
  g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]
"""


def test_a_yaml_bomb_in_crds_is_refused(render_files: RenderFiles) -> None:
    # crds/ files reach the output verbatim, unparsed by helm: our loader is the only guard
    with pytest.raises(ManifestError) as info:
        render_files(crds={"bomb.yaml": BOMB})
    assert "YAML bomb" in info.value.reason and "mini/crds/bomb.yaml" in info.value.reason


def test_a_yaml_bomb_in_templates_is_refused(render_files: RenderFiles, tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="aliasing"):
        render_files({"bomb.yaml": BOMB})
    # a smaller one helm lets through still meets our bound
    small = "\n".join(BOMB.splitlines()[:8]) + "\n"  # 1000 leaves: under helm's own alias heuristic
    chart = write_chart(tmp_path / "small", templates={"bomb.yaml": small})
    with pytest.raises(ManifestError, match="YAML bomb"):
        render_chart(chart, release="r", namespace="n", values={}, workdir=tmp_path / "w",
                     limits=RenderLimits(max_alias_expansion=1_000))


def test_endless_output_is_cut_off(render_files: RenderFiles, tmp_path: Path) -> None:
    loop = "{{- range until 20000 }}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{{ . }}\n{{- end }}\n"
    chart = write_chart(tmp_path, templates={"loop.yaml": loop})
    with pytest.raises(ManifestError, match="larger than 100000 bytes"):
        render_chart(chart, release="r", namespace="n", values={}, workdir=tmp_path / "w",
                     limits=RenderLimits(max_output_bytes=100_000))


def test_nameless_objects_are_refused_and_typeless_documents_ignored(render_files: RenderFiles) -> None:
    rendered = render_files({**base_templates(), "odd.yaml": "just: a map\n---\nkind: ConfigMap\n"})
    assert len(rendered.ignored) == 2 and _refs(rendered.objects) == ["Deployment/mini", "Service/mini"]
    with pytest.raises(ManifestError, match=r"no metadata\.name"):
        render_files({"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: x-\n"})


def test_split_documents_keeps_sources_and_skips_empty_documents() -> None:
    text = "---\n# Source: c/templates/a.yaml\nkind: A\n---\n# Source: c/templates/b.yaml\n---\n--- {kind: B}\n"
    docs = split_documents(text)
    assert [(d.source, d.text) for d in docs] == [
        ("c/templates/a.yaml", "# Source: c/templates/a.yaml\nkind: A\n"),
        ("c/templates/b.yaml", "# Source: c/templates/b.yaml\n"),
        ("c/templates/b.yaml", "{kind: B}\n"),
    ]
