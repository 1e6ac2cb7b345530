"""Function management over real HTTP: creation rules, versions, lookups, deletion."""

from __future__ import annotations

from typing import Any

import pytest
from ref_support import (
    Running,
    assert_problem,
    container_function,
    create,
    helm_function,
    version_path,
)

HELM = "oci://registry.test/ns/charts/inference-test-1.0.0.tgz"


def test_create_helm_function_echoes_fields_and_starts_inactive(api: Running) -> None:
    fn = create(api.client(), helm_function("echo-fields", description="d", tags=["a", "b"]))
    assert fn["status"] == "INACTIVE"
    assert fn["name"] == "echo-fields"
    assert fn["helmChart"] == HELM
    assert fn["helmChartServiceName"] == "entrypoint"
    assert fn["inferenceUrl"] == "/echo"
    assert fn["inferencePort"] == 8000
    assert fn["apiBodyFormat"] == "CUSTOM"
    assert fn["tags"] == ["a", "b"]
    assert fn["activeInstances"] == []
    assert fn["createdAt"].endswith("Z")
    assert fn["health"] == {"protocol": "HTTP", "uri": "/v2/health/ready", "port": 8000, "timeout": "PT10S",
                            "expectedStatusCode": 200}
    assert fn["id"] != fn["versionId"]
    assert "containerImage" not in fn


def test_defaults_when_optional_fields_are_left_out(api: Running) -> None:
    fn = create(api.client(), {"name": "defaults", "inferenceUrl": "v2/models/m/infer", "helmChart": HELM,
                               "helmChartServiceName": "svc"})
    assert fn["inferencePort"] == 8000
    assert fn["apiBodyFormat"] == "CUSTOM"
    assert fn["functionType"] == "DEFAULT"
    assert fn["inferenceUrl"] == "v2/models/m/infer"


def test_secrets_are_answered_by_name_only(api: Running) -> None:
    fn = create(api.client(), container_function("secretive", secrets=[{"name": "HF", "value": "s3cr3t-v"}]))
    assert fn["secrets"] == ["HF"]
    listed = api.client().get(version_path(fn)).text
    assert "s3cr3t-v" not in listed


@pytest.mark.parametrize("url", ["/gRPC", "/grpc", "/GRPC", "/grpc/"])
def test_grpc_inference_url_marks_a_grpc_function(api: Running, url: str) -> None:
    fn = create(api.client(), helm_function("grpc-fn", inferenceUrl=url, inferencePort=8001))
    assert fn["health"]["protocol"] == "gRPC"
    assert fn["health"]["port"] == 8001


def test_an_ordinary_path_is_http(api: Running) -> None:
    fn = create(api.client(), helm_function("http-fn", inferenceUrl="/grpc-like"))
    assert fn["health"]["protocol"] == "HTTP"


def test_explicit_health_is_kept(api: Running) -> None:
    health = {"protocol": "HTTP", "uri": "/health", "port": 8000, "timeout": "PT30S", "expectedStatusCode": 204}
    fn = create(api.client(), helm_function("with-health", health=health))
    assert fn["health"] == health
    assert fn["healthUri"] == "/health"


BAD_CREATE: list[tuple[str, dict[str, Any], list[str]]] = [
    ("chart without service", helm_function(helmChartServiceName=None), ["helmChartServiceName"]),
    ("service without chart", container_function(helmChartServiceName="svc"), ["helmChart"]),
    ("blank service name", helm_function(helmChartServiceName="  "), ["helmChartServiceName"]),
    ("chart and image", helm_function(containerImage="registry.test/x:1"), ["containerImage"]),
    ("chart and args", helm_function(containerArgs="--port 8000"), ["containerArgs"]),
    ("chart and env", helm_function(containerEnvironment=[{"key": "A", "value": "1"}]), ["containerEnvironment"]),
    ("no artefact", {"name": "bare", "inferenceUrl": "/echo"}, ["containerImage", "models", "helmChart"]),
    ("name missing", helm_function(name=None), ["'name'"]),
    ("name empty", helm_function(name=""), ["'name'"]),
    ("name starts with dash", helm_function(name="-fn"), ["'name'"]),
    ("name starts with underscore", helm_function(name="_fn"), ["'name'"]),
    ("name with dot", helm_function(name="my.fn"), ["'name'"]),
    ("name with space", helm_function(name="my fn"), ["'name'"]),
    ("name too long", helm_function(name="a" * 129), ["'name'", "128"]),
    ("http chart", helm_function(helmChart="http://registry.test/ns/charts/c-1.0.tgz"), ["oci or https"]),
    ("ftp chart", helm_function(helmChart="ftp://registry.test/c-1.0.tgz"), ["oci or https"]),
    ("chart without scheme", helm_function(helmChart="registry.test/ns/charts/c-1.0.tgz"), ["oci or https"]),
    ("chart without host", helm_function(helmChart="oci:///ns/charts/c-1.0.tgz"), ["host"]),
    ("inferenceUrl missing", helm_function(inferenceUrl=None), ["inferenceUrl"]),
    ("port out of range", helm_function(inferencePort=70000), ["inferencePort"]),
    ("port zero", helm_function(inferencePort=0), ["inferencePort"]),
    ("health timeout", helm_function(health={"protocol": "HTTP", "uri": "/h", "port": 8000, "timeout": "10s",
                                             "expectedStatusCode": 200}), ["health.timeout"]),
    ("health incomplete", helm_function(health={"protocol": "HTTP", "uri": "/h"}), ["health.port"]),
    ("bad apiBodyFormat", helm_function(apiBodyFormat="XML"), ["apiBodyFormat"]),
    # wrong JSON types: strings are not numbers, numbers are not strings, lists are not objects
    ("port as string", helm_function(inferencePort="8000"), ["inferencePort", "integer"]),
    ("port as float", helm_function(inferencePort=8000.0), ["inferencePort", "integer"]),
    ("port as bool", helm_function(inferencePort=True), ["inferencePort"]),
    ("name as number", helm_function(name=42), ["name", "string"]),
    ("env not a list", container_function(containerEnvironment={"A": "1"}), ["containerEnvironment", "array"]),
    ("env entry without value", container_function(containerEnvironment=[{"key": "A"}]),
     ["containerEnvironment[0].value", "required"]),
    ("tags of numbers", helm_function(tags=[1, 2]), ["tags[0]"]),
]


@pytest.mark.parametrize(("body", "needles"), [(b, n) for _, b, n in BAD_CREATE], ids=[i for i, _, _ in BAD_CREATE])
def test_create_refusals(api: Running, body: dict[str, Any], needles: list[str]) -> None:
    before = len(api.client().get("/v2/nvcf/functions").json()["functions"])
    assert_problem(api.client().post("/v2/nvcf/functions", json=body), 400, *needles)
    # Refused means nothing was stored.
    assert len(api.client().get("/v2/nvcf/functions").json()["functions"]) == before


@pytest.mark.parametrize("name", ["a", "A", "0", "fn_1-x", "a" * 128, "Z-_9"])
def test_names_the_pattern_allows(api: Running, name: str) -> None:
    assert create(api.client(), helm_function(name))["name"] == name


def test_https_chart_urls_are_accepted(api: Running) -> None:
    fn = create(api.client(), helm_function("https-chart", helmChart="https://charts.test/charts/c-1.0.0.tgz"))
    assert fn["helmChart"].startswith("https://")


def test_models_alone_make_a_function(api: Running) -> None:
    fn = create(api.client(), {"name": "m", "inferenceUrl": "/i",
                               "models": [{"name": "m", "uri": "ngc://m", "version": "1"}]})
    assert fn["models"][0]["name"] == "m"


def test_all_problems_are_reported_together(api: Running) -> None:
    body = {"name": "-bad", "helmChart": "http://x/c-1.tgz", "containerImage": "i"}
    assert_problem(api.client().post("/v2/nvcf/functions", json=body), 400,
                   "'name'", "inferenceUrl", "helmChartServiceName", "containerImage", "oci or https")


@pytest.mark.parametrize(
    ("content", "ctype", "status", "needle"),
    [
        (b'{"name": "x",', "application/json", 400, "not valid JSON"),
        (b"", "application/json", 400, "empty"),
        (b"[1, 2]", "application/json", 400, "JSON object"),
        (b'"just a string"', "application/json", 400, "JSON object"),
        (b'{"name": NaN}', "application/json", 400, "not valid JSON"),
        (b"\xff\xfe\x00", "application/json", 400, "not valid JSON"),
        (b'{"name": "x"}', "text/plain", 415, "application/json"),
    ],
    ids=["truncated", "empty", "array", "string", "nan", "not-utf8", "text-plain"],
)
def test_malformed_bodies(api: Running, content: bytes, ctype: str, status: int, needle: str) -> None:
    r = api.client().post("/v2/nvcf/functions", content=content, headers={"content-type": ctype})
    assert_problem(r, status, needle)


def test_problem_json_content_type_is_accepted_as_json(api: Running) -> None:
    r = api.client().post("/v2/nvcf/functions", json=helm_function("vendor-json"),
                          headers={"content-type": "application/vnd.test+json; charset=utf-8"})
    assert r.status_code == 200, r.text


def test_new_version_keeps_the_function_id(api: Running) -> None:
    client = api.client()
    first = create(client, helm_function("versioned"))
    r = client.post(f"/v2/nvcf/functions/{first['id']}/versions",
                    json=helm_function("versioned", helmChart=HELM.replace("1.0.0", "1.1.0")))
    assert r.status_code == 200, r.text
    second = r.json()["function"]
    assert second["id"] == first["id"]
    assert second["versionId"] != first["versionId"]
    assert second["status"] == "INACTIVE"
    listed = client.get(f"/v2/nvcf/functions/{first['id']}/versions").json()["functions"]
    assert [f["versionId"] for f in listed] == [first["versionId"], second["versionId"]]
    assert first["id"] in client.get("/v2/nvcf/functions/ids").json()["functionIds"]


def test_new_version_is_validated_like_a_function(api: Running) -> None:
    first = create(api.client(), helm_function("versioned-bad"))
    r = api.client().post(f"/v2/nvcf/functions/{first['id']}/versions", json=helm_function(containerImage="i"))
    assert_problem(r, 400, "containerImage")


def test_list_functions_and_visibility(api: Running) -> None:
    fn = create(api.client(), helm_function("listed"))
    client = api.client()
    ids = {f["versionId"] for f in client.get("/v2/nvcf/functions").json()["functions"]}
    assert fn["versionId"] in ids
    private = client.get("/v2/nvcf/functions", params={"visibility": ["private", "authorized"]}).json()
    assert fn["versionId"] in {f["versionId"] for f in private["functions"]}
    assert client.get("/v2/nvcf/functions", params={"visibility": "public"}).json() == {"functions": []}
    assert_problem(client.get("/v2/nvcf/functions", params={"visibility": "everyone"}), 400, "visibility")


def test_get_version(api: Running) -> None:
    fn = create(api.client(), helm_function("get-me"))
    got = api.client().get(version_path(fn), params={"includeSecrets": "true"})
    assert got.status_code == 200
    assert got.json()["function"] == fn


def test_delete_version_then_it_is_gone(api: Running) -> None:
    client = api.client()
    fn = create(client, helm_function("short-lived"))
    r = client.delete(version_path(fn))
    assert r.status_code == 204
    assert r.content == b""
    assert_problem(client.get(version_path(fn)), 404, fn["versionId"])
    assert_problem(client.delete(version_path(fn)), 404)
    assert_problem(client.get(f"/v2/nvcf/functions/{fn['id']}/versions"), 404, fn["id"])
    assert fn["versionId"] not in {f["versionId"] for f in client.get("/v2/nvcf/functions").json()["functions"]}
    # With its only version gone the function is gone: no new version can hang off it.
    assert_problem(client.post(f"/v2/nvcf/functions/{fn['id']}/versions", json=helm_function()), 404)


def test_deleting_one_version_keeps_the_others(api: Running) -> None:
    client = api.client()
    first = create(client, helm_function("two-versions"))
    second = client.post(f"/v2/nvcf/functions/{first['id']}/versions", json=helm_function("two-versions")).json()
    assert client.delete(version_path(first)).status_code == 204
    remaining = client.get(f"/v2/nvcf/functions/{first['id']}/versions").json()["functions"]
    assert [f["versionId"] for f in remaining] == [second["function"]["versionId"]]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v2/nvcf/functions/nope/versions"),
        ("POST", "/v2/nvcf/functions/nope/versions"),
        ("GET", "/v2/nvcf/functions/nope/versions/nada"),
        ("DELETE", "/v2/nvcf/functions/nope/versions/nada"),
        ("GET", "/v2/nvcf/functions/00000000-0000-0000-0000-000000000000/versions"),
    ],
)
def test_unknown_ids_are_404(api: Running, method: str, path: str) -> None:
    kwargs: dict[str, Any] = {"json": helm_function()} if method == "POST" else {}
    assert_problem(api.client().request(method, path, **kwargs), 404)


def test_version_of_another_function_is_404(api: Running) -> None:
    a = create(api.client(), helm_function("fa"))
    b = create(api.client(), helm_function("fb"))
    assert_problem(api.client().get(f"/v2/nvcf/functions/{a['id']}/versions/{b['versionId']}"), 404)

