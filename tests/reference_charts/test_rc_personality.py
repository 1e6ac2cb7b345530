"""The chart side of the NVIDIA personality: NVIDIA's refusal texts, logged object checks, Helm's reading of URLs.

Each setting is exercised alone, next to the reference's default behaviour for the same chart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rc_chartkit import PushChart, RenderFiles, base_templates, crd, pod_spec, service, workload, write_chart

from conformance.charts.naming import RegistryAddress, documented_path_repository
from conformance.charts.oci import Registry
from conformance.env.registry import RegistryEndpoint
from reference import rules
from reference.charts import ChartNotFoundError, ChartUrlError, RegistryAuth, RenderError, prepare
from reference.charts.helm_reference import go_quote, parse_as_helm, url_problems
from reference.charts.nvidia_texts import deployment_refusal, failure_errors, type_string, violation_errors
from reference.charts.render import Rendered, render_chart
from reference.charts.url import parse_chart_url
from reference.charts.validate import Violation, validate

DAEMONSET = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"}}
ENDPOINTS = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "ep"}}
LIST = {"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "ConfigMap",
                                                       "metadata": {"name": "inside"}}]}
MANY = (
    "{{- range until (int .Values.n) }}\n---\n"
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{{ . }}\n{{- end }}\n"
)


def _check(rendered: Rendered, **kwargs: Any) -> list[Violation]:
    return validate(rendered, service_name="mini", inference_port=8000, **kwargs)


def _index(rendered: Rendered, ref: str) -> int:
    return next(item.index for item in rendered.objects if item.ref == ref)


# ── NVIDIA's texts for what the validator refuses ─────────────────────────────────────────────


def test_type_strings_name_the_core_group() -> None:
    assert type_string("v1", "Endpoints") == "core/v1.Endpoints"
    assert type_string("apps/v1beta1", "Deployment") == "apps/v1beta1.Deployment"
    assert type_string("apiextensions.k8s.io/v1", "CustomResourceDefinition") == (
        "apiextensions.k8s.io/v1.CustomResourceDefinition")
    assert go_quote('a"b\\c\x01é') == '"a\\"b\\\\c\\x01é"'


def test_unsupported_types_are_one_list_in_document_order(render_files: RenderFiles) -> None:
    rendered = render_files({**base_templates(), "ds.yaml": DAEMONSET, "ep.yaml": ENDPOINTS,
                             "ds2.yaml": {**DAEMONSET, "metadata": {"name": "agent2"}}})
    errors = violation_errors(_check(rendered))
    # helm's install order puts DaemonSets after Services and kinds it does not know last; one entry
    # per object, as Go's %q prints a []string.
    assert errors == ['unsupported types: ["apps/v1.DaemonSet" "apps/v1.DaemonSet" "core/v1.Endpoints"]']
    assert deployment_refusal(errors) == (
        'Helm chart validation error(s) from NVCF ReVal service: unsupported types: '
        '["apps/v1.DaemonSet" "apps/v1.DaemonSet" "core/v1.Endpoints"]')


def test_crds_are_listed_first_when_refused(render_files: RenderFiles) -> None:
    rendered = render_files({**base_templates(), "ds.yaml": DAEMONSET}, crds={"crd.yaml": crd()})
    errors = violation_errors(_check(rendered, violate={rules.CRD_CHART_DEPLOYS}))
    assert errors == ['unsupported types: ["apiextensions.k8s.io/v1.CustomResourceDefinition" "apps/v1.DaemonSet"]']
    # Without the mutant the reference skips CRDs, and so does its text.
    assert violation_errors(_check(rendered)) == ['unsupported types: ["apps/v1.DaemonSet"]']


def test_a_list_is_a_decode_error_that_stops_the_type_check(render_files: RenderFiles) -> None:
    rendered = render_files({**base_templates(), "list.yaml": LIST, "ds.yaml": DAEMONSET})
    index = _index(rendered, "List/(unnamed)")
    assert violation_errors(_check(rendered)) == [
        f"object {index} is not a valid Kubernetes type (does not implement metav1.Object)"]


def test_an_oversized_document_names_its_index(render_files: RenderFiles) -> None:
    big = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"blob": "x" * 1_049_600}}
    rendered = render_files({**base_templates(), "big.yaml": big, "list.yaml": LIST})
    index = _index(rendered, "ConfigMap/big")
    errors = violation_errors(_check(rendered))
    size = f"size of object at index {index} is larger than maximum 1049600 bytes (including object metadata)"
    assert size in errors and errors[-1] == size  # decoding stops at it: later documents are not read


def test_the_off_by_one_count_passes_301_documents_and_refuses_302(render_files: RenderFiles) -> None:
    mutant = {rules.OBJECTS_OVER_300_REFUSED}
    at_301 = render_files({**base_templates(), "many.yaml": MANY}, configuration={"n": 299})
    assert len(at_301.objects) == 301 and _check(at_301, violate=mutant) == []
    assert [v.rule for v in _check(at_301)] == [rules.OBJECTS_OVER_300_REFUSED]  # the reference refuses 301
    at_302 = render_files({**base_templates(), "many.yaml": MANY}, configuration={"n": 300})
    (found,) = _check(at_302, violate=mutant)
    assert found.rule == rules.OBJECTS_OVER_300_REFUSED and found.mutant == rules.OBJECTS_OVER_300_REFUSED
    assert violation_errors([found]) == ["rendered chart contains more objects than the maximum allowed 300"]
    # NVIDIA counts the documents of CRD files too.
    with_crd = render_files({**base_templates(), "many.yaml": MANY}, configuration={"n": 299},
                            crds={"crd.yaml": crd()})
    assert [v.rule for v in _check(with_crd, violate=mutant)] == [rules.OBJECTS_OVER_300_REFUSED]


def test_object_check_findings_are_sorted(render_files: RenderFiles) -> None:
    rendered = render_files({**base_templates(), "np.yaml": service("z-port", type_="NodePort"),
                             "lb.yaml": service("a-port", type_="LoadBalancer")})
    errors = violation_errors(_check(rendered))
    assert errors == sorted(errors) and len(errors) == 2


def test_missing_dependencies_read_as_helms_library_says(tmp_path: Path) -> None:
    chart = write_chart(tmp_path, name="parent", chart_fields={"dependencies": [{"name": "sub", "version": "0.1.0"}]})
    with pytest.raises(RenderError) as err:
        render_chart(chart, release="mini-service", namespace="ns", values=None, workdir=tmp_path / "work")
    (said,) = failure_errors(err.value, "oci://r/x")
    assert said.startswith("run helm template: an error occurred while checking for chart dependencies. You may "
                           "need to run `helm dependency build` to fetch missing dependencies: ")
    assert said.endswith("found in Chart.yaml, but missing in charts/ directory: sub")


def test_url_problems_are_helm_revals() -> None:
    assert [p.nvidia for p in url_problems("http://reg.test/x")] == [
        'helm chart URL must use https or oci scheme, got "http"']
    assert [p.nvidia for p in url_problems("https://:443/chart")] == ["helm chart URL must have a host"]
    assert [p.nvidia for p in url_problems("127.0.0.1:5000/a/b")] == [
        'invalid helm chart URL: parse "127.0.0.1:5000/a/b": first path segment in URL cannot contain colon']
    assert [p.nvidia for p in url_problems("ftp:///x")] == [
        'helm chart URL must use https or oci scheme, got "ftp"', "helm chart URL must have a host"]
    for fine in ("oci://reg.test/a/charts/x-1.0.0.tgz", "OCI://reg.test/a:1", "https://reg.test/x.tgz"):
        assert url_problems(fine) == []
    with pytest.raises(ChartUrlError) as err:
        parse_as_helm("http://reg.test/x")
    assert err.value.rule == rules.CHART_REF_HTTP_REFUSED
    assert failure_errors(err.value, "http://reg.test/x") == [
        'helm chart URL must use https or oci scheme, got "http"']


def test_helm_reads_any_oci_reference() -> None:
    documented = parse_as_helm("oci://reg.test:5000/team/charts/my_chart-1.0.0-rc1.tgz")
    assert (documented.repository, documented.version, documented.exact) == (
        "team/charts/my_chart-1.0.0-rc1.tgz", "", True)
    tagged = parse_as_helm("oci://reg.test/team/charts/mini:1.2.0")
    assert (tagged.repository, tagged.name, tagged.version, tagged.oci_ref) == (
        "team/charts/mini", "mini", "1.2.0", "oci://reg.test/team/charts/mini:1.2.0")
    assert parse_as_helm("oci://reg.test/team/mini@sha256:abc").version == "sha256:abc"
    # The documented reading refuses all of these, as it did before.
    for url in ("oci://reg.test/team/charts/my_chart-1.0.0.tgz", "oci://reg.test/team/charts/mini:1.2.0",
                "oci://reg.test/team/charts/mini-1.0.0-rc1.tgz"):
        with pytest.raises(ChartUrlError):
            parse_chart_url(url)


# ── object checks only logged ─────────────────────────────────────────────────────────────────

VALUES_VOLUMES = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: mini
spec:
  replicas: 1
  selector: {matchLabels: {app: mini}}
  template:
    metadata: {labels: {app: mini}}
    spec:
      containers:
        - name: app
          image: 127.0.0.1:5000/nvcf-conformance/mini-service:0.1.0
          ports: [{name: http, containerPort: 8000}]
      {{- with .Values.volumes }}
      volumes: {{ toYaml . | nindent 8 }}
      {{- end }}
"""
HOSTPATH = {"volumes": [{"name": "host", "hostPath": {"path": "/etc"}}]}


@pytest.fixture(scope="module")
def lax_chart(push_chart: PushChart) -> str:
    """Everything NVIDIA only logs with skipValidateObjects: Service types, volumes, host settings, names."""
    spec = pod_spec(hostNetwork=True, volumes=[{"name": "host", "hostPath": {"path": "/"}},
                                               {"name": "tok", "projected": {"sources": [
                                                   {"serviceAccountToken": {"path": "t"}}]}}])
    spec["containers"][0]["ports"][0]["hostPort"] = 8080
    spec["containers"][0]["securityContext"] = {"privileged": True}
    templates = {"deployment.yaml": workload("Deployment", "mini", spec),
                 "service.yaml": service("elsewhere", port=9000, type_="NodePort")}
    return push_chart(name="lax", version="1.0.0", templates=templates)


@pytest.fixture(scope="module")
def values_chart(push_chart: PushChart) -> str:
    return push_chart(name="valued", version="1.0.0", templates={"deployment.yaml": VALUES_VOLUMES,
                                                                "service.yaml": service()})


def _prepare(url: str, auth: RegistryAuth, tmp_path: Path, **kwargs: Any) -> Any:
    configuration = kwargs.pop("configuration", None)
    return prepare(url, "mini", 8000, configuration, registry_auth=[auth], workdir=tmp_path / "work", **kwargs)


def test_logged_object_checks_refuse_nothing(lax_chart: str, registry_auth: RegistryAuth, tmp_path: Path) -> None:
    out = _prepare(lax_chart, registry_auth, tmp_path, object_checks="logged", policy="enforced")
    assert out.ok, out.reason()
    logged = {v.rule for v in out.logged}
    assert {rules.SVC_TYPE_FORBIDDEN, rules.VOL_FORBIDDEN, rules.VOL_PROJECTED_SOURCE_FORBIDDEN,
            rules.SVC_NAME_MISMATCH_REFUSED, rules.SEC_HOST_PORT_ENFORCED, rules.SEC_HOST_NAMESPACES_ENFORCED,
            rules.SEC_PRIVILEGE_ENFORCED} <= logged
    assert {item.ref for item in out.objects} == {"Deployment/mini", "Service/elsewhere"}


def test_enforced_object_checks_refuse_by_default(lax_chart: str, registry_auth: RegistryAuth,
                                                  tmp_path: Path) -> None:
    out = _prepare(lax_chart, registry_auth, tmp_path)
    assert {rules.SVC_TYPE_FORBIDDEN, rules.VOL_FORBIDDEN, rules.SVC_NAME_MISMATCH_REFUSED} <= {
        v.rule for v in out.violations}
    assert out.logged == ()


def test_logged_object_checks_keep_the_kind_allow_list(push_chart: PushChart, registry_auth: RegistryAuth,
                                                       tmp_path: Path) -> None:
    url = push_chart(name="daemon", version="1.0.0", templates={**base_templates(), "ds.yaml": DAEMONSET})
    out = _prepare(url, registry_auth, tmp_path, object_checks="logged")
    assert [v.rule for v in out.violations] == [rules.KIND_FORBIDDEN]


def test_a_hostpath_override_deploys_when_object_checks_are_logged(values_chart: str, registry_auth: RegistryAuth,
                                                                   tmp_path: Path) -> None:
    out = _prepare(values_chart, registry_auth, tmp_path, configuration=HOSTPATH, object_checks="logged")
    assert out.ok and [v.rule for v in out.logged] == [rules.VOL_FORBIDDEN]
    deployment = next(item for item in out.objects if item.kind == "Deployment")
    assert deployment.obj["spec"]["template"]["spec"]["volumes"] == HOSTPATH["volumes"]
    refused = _prepare(values_chart, registry_auth, tmp_path / "default", configuration=HOSTPATH)
    assert [v.rule for v in refused.violations] == [rules.VOL_FORBIDDEN]


# ── chart references as Helm reads them ───────────────────────────────────────────────────────


def _marker(version: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "marker"}, "data": {"version": version}}


@pytest.fixture(scope="module")
def published(push_chart: PushChart, registry: RegistryEndpoint) -> dict[str, str]:
    """Charts pushed as the harness pushes them: each also under its documented path's repository name."""
    oci = Registry(RegistryAddress(registry.address, True), registry.username, registry.password)

    def publish(name: str, version: str, alias: bool = True) -> str:
        url = push_chart(repository="helmread/charts", name=name, version=version,
                         templates={**base_templates(), "marker.yaml": _marker(version)})
        target = documented_path_repository("helmread", name, version)
        if alias and target:
            oci.copy(f"helmread/charts/{name}", version, target, version)
        return url

    urls = {f"{name}-{version}": publish(name, version) for name, version in
            (("newest", "1.0.0"), ("newest", "2.0.0-rc1"), ("dash", "1.0.0-rc1"), ("my_chart", "1.0.0"),
             ("name.dot", "1.0.0"))}
    urls["newest-1.2.0"] = publish("newest", "1.2.0", alias=False)
    return urls


def _version(out: Any) -> str:
    marker = next(item for item in out.objects if item.ref == "ConfigMap/marker")
    return str(marker.obj["data"]["version"])


def _helm(url: str, auth: RegistryAuth, tmp_path: Path, **kwargs: Any) -> Any:
    return _prepare(url, auth, tmp_path, chart_references="helm", **kwargs)


def test_the_documented_url_resolves_through_its_repository_name(published: dict[str, str],
                                                                 registry_auth: RegistryAuth, tmp_path: Path) -> None:
    out = _helm(published["newest-1.0.0"], registry_auth, tmp_path)
    assert out.ok and _version(out) == "1.0.0" and out.chart.exact
    # A chart pushed with `helm push` alone is not found there.
    with pytest.raises(ChartNotFoundError) as err:
        _helm(published["newest-1.2.0"], registry_auth, tmp_path)
    (said,) = failure_errors(err.value, published["newest-1.2.0"])
    assert said.startswith("run helm template: ") and "newest-1.2.0.tgz" in said and "404" in said


def test_tags_and_bare_repositories_resolve_as_helm_does(published: dict[str, str], registry_auth: RegistryAuth,
                                                         tmp_path: Path) -> None:
    base = published["newest-1.0.0"].rsplit("/", 1)[0] + "/newest"
    assert _version(_helm(f"{base}:1.0.0", registry_auth, tmp_path)) == "1.0.0"
    assert _version(_helm(f"{base}:2.0.0-rc1", registry_auth, tmp_path)) == "2.0.0-rc1"
    # No tag: the newest release version (Helm's library ignores NVIDIA's Devel flag).
    assert _version(_helm(base, registry_auth, tmp_path)) == "1.2.0"


def test_names_with_symbols_deploy_and_a_dashed_version_needs_its_tag(published: dict[str, str],
                                                                      registry_auth: RegistryAuth,
                                                                      tmp_path: Path) -> None:
    assert _helm(published["my_chart-1.0.0"], registry_auth, tmp_path).ok
    assert _helm(published["name.dot-1.0.0"], registry_auth, tmp_path).ok
    # The documented URL of a pre-release names a repository whose only tag is a pre-release, which a
    # pull without a version does not take.
    with pytest.raises(ChartNotFoundError) as err:
        _helm(published["dash-1.0.0-rc1"], registry_auth, tmp_path)
    assert failure_errors(err.value, published["dash-1.0.0-rc1"]) == [
        "run helm template: Could not locate a version matching provided version string"]
    tagged = published["dash-1.0.0-rc1"].rsplit("/", 1)[0] + "/dash:1.0.0-rc1"
    assert _version(_helm(tagged, registry_auth, tmp_path)) == "1.0.0-rc1"


def test_the_documented_reading_is_unchanged(published: dict[str, str], registry_auth: RegistryAuth,
                                             tmp_path: Path) -> None:
    # Pulled as REPO/charts/NAME at tag X.Y.Z, with the archive checked against the URL.
    out = _prepare(published["newest-1.2.0"], registry_auth, tmp_path)
    assert _version(out) == "1.2.0" and not out.chart.exact
    for key, rule in (("my_chart-1.0.0", rules.CHART_NAME_SYMBOLS_REFUSED),
                      ("dash-1.0.0-rc1", rules.CHART_VERSION_DASH_REFUSED)):
        with pytest.raises(ChartUrlError) as err:
            _prepare(published[key], registry_auth, tmp_path)
        assert err.value.rule == rule
