"""Cross-cutting HTTP behaviour: auth, unknown routes, methods, body bound, problem documents."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from ref_support import ADMIN, INVOKER, NOBODY, READER, Running, assert_problem, create, gpu_spec, helm_function

FID = "00000000-0000-0000-0000-000000000001"
VID = "00000000-0000-0000-0000-000000000002"

# (method, path, a body, the scope the operation needs)
OPERATIONS: list[tuple[str, str, Any, str]] = [
    ("POST", "/v2/nvcf/functions", helm_function(), "register_function"),
    ("GET", "/v2/nvcf/functions", None, "list_functions"),
    ("GET", "/v2/nvcf/functions/ids", None, "list_functions"),
    ("POST", f"/v2/nvcf/functions/{FID}/versions", helm_function(), "register_function"),
    ("GET", f"/v2/nvcf/functions/{FID}/versions", None, "list_functions"),
    ("GET", f"/v2/nvcf/functions/{FID}/versions/{VID}", None, "list_functions"),
    ("DELETE", f"/v2/nvcf/functions/{FID}/versions/{VID}", None, "delete_function"),
    ("POST", f"/v2/nvcf/deployments/functions/{FID}/versions/{VID}", {"deploymentSpecifications": [gpu_spec()]},
     "deploy_function"),
    ("GET", f"/v2/nvcf/deployments/functions/{FID}/versions/{VID}", None, "deploy_function"),
    ("DELETE", f"/v2/nvcf/deployments/functions/{FID}/versions/{VID}", None, "deploy_function"),
    ("POST", f"/v2/nvcf/pexec/functions/{FID}", {"x": 1}, "invoke_function"),
    ("POST", f"/v2/nvcf/pexec/functions/{FID}/versions/{VID}", {"x": 1}, "invoke_function"),
    ("GET", f"/v2/nvcf/pexec/status/{FID}", None, "invoke_function"),
]
IDS = [f"{m} {p.replace(FID, 'F').replace(VID, 'V')}" for m, p, _, _ in OPERATIONS]


@pytest.fixture(scope="module")
def anon(api: Running) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=10) as client:
        yield client


def _call(client: httpx.Client, method: str, path: str, body: Any, **kwargs: Any) -> httpx.Response:
    return client.request(method, path, json=body, **kwargs) if body is not None else client.request(
        method, path, **kwargs)


@pytest.mark.parametrize(("method", "path", "body", "scope"), OPERATIONS, ids=IDS)
def test_no_token_is_401_with_a_bearer_challenge(anon: httpx.Client, method: str, path: str, body: Any,
                                                  scope: str) -> None:
    r = _call(anon, method, path, body)
    assert_problem(r, 401, "bearer token")
    assert r.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path", "body", "scope"), OPERATIONS, ids=IDS)
def test_unknown_token_is_401(anon: httpx.Client, method: str, path: str, body: Any, scope: str) -> None:
    r = _call(anon, method, path, body, headers={"Authorization": "Bearer not-a-known-token"})
    problem = assert_problem(r, 401, "not known")
    assert "not-a-known-token" not in problem["detail"]
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


@pytest.mark.parametrize(("method", "path", "body", "scope"), OPERATIONS, ids=IDS)
def test_missing_scope_is_403(api: Running, method: str, path: str, body: Any, scope: str) -> None:
    r = _call(api.client(NOBODY), method, path, body)
    assert_problem(r, 403, scope, "nobody")


def test_basic_auth_is_not_a_bearer_token(anon: httpx.Client) -> None:
    r = anon.get("/v2/nvcf/functions", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert_problem(r, 401, "Bearer <token>")


def test_scopes_are_checked_per_operation(api: Running) -> None:
    # The reader lists but does not register; the invoker invokes but does not list.
    assert api.client(READER).get("/v2/nvcf/functions").status_code == 200
    assert_problem(api.client(READER).post("/v2/nvcf/functions", json=helm_function()), 403, "register_function")
    assert_problem(api.client(INVOKER).get("/v2/nvcf/functions"), 403, "list_functions")
    assert_problem(api.client(INVOKER).post(f"/v2/nvcf/pexec/functions/{FID}", json={}), 404)


def test_auth_is_decided_before_the_body_is_read(anon: httpx.Client) -> None:
    r = anon.post("/v2/nvcf/functions", content=b"{not json", headers={"content-type": "application/json"})
    assert_problem(r, 401)


def test_health_needs_no_token(anon: httpx.Client) -> None:
    r = anon.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "OK"}


def test_openapi_document(anon: httpx.Client) -> None:
    doc = anon.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    for path in ("/v2/nvcf/functions", "/v2/nvcf/functions/{function_id}/versions/{version_id}",
                 "/v2/nvcf/deployments/functions/{function_id}/versions/{version_id}",
                 "/v2/nvcf/pexec/status/{request_id}", "/health"):
        assert path in paths
    body = paths["/v2/nvcf/functions"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/CreateFunctionRequest"}
    assert "CreateFunctionRequest" in doc["components"]["schemas"]
    assert "bearer" in str(doc["components"]["securitySchemes"]).lower()
    assert "422" not in str({p: {m: op.get("responses") for m, op in item.items()} for p, item in paths.items()})


@pytest.mark.parametrize("path", ["/", "/nope", "/v2/nvcf", "/v2/nvcf/functions/a/b/c/d", "/v3/nvcf/functions"])
def test_unknown_routes_are_404_problems(api: Running, path: str) -> None:
    assert_problem(api.client().get(path), 404, path)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/v2/nvcf/functions", "GET"),
        ("DELETE", "/v2/nvcf/functions", "POST"),
        ("PATCH", f"/v2/nvcf/functions/{FID}/versions/{VID}", "DELETE"),
        ("GET", f"/v2/nvcf/pexec/functions/{FID}", "POST"),
        ("POST", "/health", "GET"),
    ],
)
def test_wrong_methods_are_405_with_allow(api: Running, method: str, path: str, allowed: str) -> None:
    r = api.client().request(method, path)
    assert_problem(r, 405, method)
    assert allowed in r.headers["allow"]


def test_bodies_over_the_bound_are_413_before_parsing(api: Running) -> None:
    # Not JSON at all: a 400 would mean it was parsed.
    r = api.client().post("/v2/nvcf/functions", content=b"x" * (1024 * 1024 + 1),
                          headers={"content-type": "application/json"})
    assert_problem(r, 413, "1048576")


def test_chunked_bodies_over_the_bound_are_413(api: Running) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"y" * 32768

    r = api.client().post("/v2/nvcf/functions", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in r.request.headers
    assert_problem(r, 413)


def test_a_body_at_the_bound_is_parsed(api: Running) -> None:
    body = b'{"name": "at-bound", "pad": "' + b"z" * (1024 * 1024 - 40) + b'"}'
    assert len(body) <= 1024 * 1024
    r = api.client().post("/v2/nvcf/functions", content=body, headers={"content-type": "application/json"})
    assert_problem(r, 400, "inferenceUrl")


def test_the_bound_applies_to_invocations_too(api: Running) -> None:
    r = api.client(INVOKER).post(f"/v2/nvcf/pexec/functions/{FID}", content=b"0" * (2 * 1024 * 1024))
    assert_problem(r, 413)


def test_bad_query_parameter_types_are_400(api: Running) -> None:
    fn = create(api.client(), helm_function("query-types"))
    path = f"/v2/nvcf/deployments/functions/{fn['id']}/versions/{fn['versionId']}"
    assert_problem(api.client().delete(path, params={"graceful": "perhaps"}), 400, "graceful")


def test_admin_token_is_accepted(api: Running) -> None:
    with httpx.Client(base_url=api.url, headers={"Authorization": f"bearer {ADMIN}"}) as client:
        assert client.get("/v2/nvcf/functions").status_code == 200
