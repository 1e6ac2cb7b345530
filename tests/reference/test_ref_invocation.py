"""Invocation over real HTTP: pexec answers and polling, and Host-routed pass-through."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from ref_support import (
    ADMIN,
    GATEWAY,
    INVOKER,
    READER,
    EchoDataPlane,
    Running,
    ScriptedDeployer,
    assert_problem,
    create,
    deployment_path,
    gpu_spec,
    helm_function,
    wait_for_status,
)


def active_function(running: Running, name: str, **extra: Any) -> dict[str, Any]:
    client = running.client()
    fn = create(client, helm_function(name, **extra))
    r = client.post(deployment_path(fn), json={"deploymentSpecifications": [gpu_spec()]})
    assert r.status_code == 200, r.text
    return wait_for_status(client, fn, "ACTIVE")


@pytest.fixture(scope="module")
def echo_fn(api: Running) -> dict[str, Any]:
    return active_function(api, "echo", inferenceUrl="/echo")


def test_pexec_returns_the_function_answer(api: Running, echo_fn: dict[str, Any]) -> None:
    r = api.client(INVOKER).post(f"/v2/nvcf/pexec/functions/{echo_fn['id']}", json={"message": "hi"})
    assert r.status_code == 200, r.text
    assert r.headers["nvcf-status"] == "fulfilled"
    assert r.headers["x-echo"] == "yes"
    seen = r.json()
    assert seen["path"] == "/echo"
    assert seen["method"] == "POST"
    assert seen["body"] == '{"message":"hi"}'
    assert seen["version"] == echo_fn["versionId"]
    # The function learns who it is and which request this is; it never sees the caller's token.
    assert seen["headers"]["nvcf-reqid"] == r.headers["nvcf-reqid"]
    assert seen["headers"]["nvcf-function-id"] == echo_fn["id"]
    assert seen["headers"]["nvcf-function-version-id"] == echo_fn["versionId"]
    assert "authorization" not in seen["headers"]
    assert INVOKER not in r.text


def test_pexec_of_a_version(api: Running, echo_fn: dict[str, Any]) -> None:
    r = api.client(INVOKER).post(f"/v2/nvcf/pexec/functions/{echo_fn['id']}/versions/{echo_fn['versionId']}",
                                 json={})
    assert r.status_code == 200
    assert r.json()["version"] == echo_fn["versionId"]


def test_relative_inference_urls_get_a_leading_slash(api: Running) -> None:
    fn = active_function(api, "relative-url", inferenceUrl="v2/models/m/infer")
    r = api.client(INVOKER).post(f"/v2/nvcf/pexec/functions/{fn['id']}", json={})
    assert r.json()["path"] == "/v2/models/m/infer"


def test_function_errors_are_passed_through_as_errored(api: Running, echo_fn: dict[str, Any]) -> None:
    r = api.client(INVOKER).post(f"/v2/nvcf/pexec/functions/{echo_fn['id']}", json={},
                                 headers={"x-status": "500"})
    assert r.status_code == 500
    assert r.headers["nvcf-status"] == "errored"
    assert r.json()["path"] == "/echo"


def test_unreachable_function_is_a_problem(api: Running, echo_fn: dict[str, Any]) -> None:
    r = api.client(INVOKER).post(f"/v2/nvcf/pexec/functions/{echo_fn['id']}", json={},
                                 headers={"x-unreachable": "1"})
    assert r.status_code == 503
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "no ready instance" in r.json()["detail"]
    assert r.headers["nvcf-status"] == "errored"
    assert r.headers["nvcf-reqid"]


def test_slow_answers_give_202_then_the_result(api: Running, echo_fn: dict[str, Any]) -> None:
    client = api.client(INVOKER)
    started = time.monotonic()
    r = client.post(f"/v2/nvcf/pexec/functions/{echo_fn['id']}", json={"slow": True},
                    headers={"NVCF-POLL-SECONDS": "1", "x-delay": "2.4"})
    assert r.status_code == 202, r.text
    assert 0.9 < time.monotonic() - started < 1.5
    reqid = r.headers["nvcf-reqid"]
    assert r.headers["nvcf-status"] == "in-progress"
    assert r.headers["nvcf-poll-seconds"] == "1"
    # A poll that ends before the answer is another 202 (0 counts as the minimum, 1 s).
    again = client.get(f"/v2/nvcf/pexec/status/{reqid}", headers={"NVCF-POLL-SECONDS": "0"})
    assert again.status_code == 202
    assert again.headers["nvcf-reqid"] == reqid
    done = client.get(f"/v2/nvcf/pexec/status/{reqid}", headers={"NVCF-POLL-SECONDS": "5"})
    assert done.status_code == 200, done.text
    assert done.headers["nvcf-reqid"] == reqid
    assert done.headers["nvcf-status"] == "fulfilled"
    assert done.json()["body"] == '{"slow":true}'
    # The answer stays retrievable.
    assert client.get(f"/v2/nvcf/pexec/status/{reqid}").json() == done.json()


@pytest.mark.parametrize(("value", "needle"), [("3601", "3600"), ("soon", "whole number"), ("1.5", "whole number")])
def test_bad_poll_seconds_are_400(api: Running, echo_fn: dict[str, Any], value: str, needle: str) -> None:
    r = api.client(INVOKER).post(f"/v2/nvcf/pexec/functions/{echo_fn['id']}", json={},
                                 headers={"NVCF-POLL-SECONDS": value})
    assert_problem(r, 400, "NVCF-POLL-SECONDS", needle)


def test_poll_seconds_at_the_maximum_is_fine(api: Running, echo_fn: dict[str, Any]) -> None:
    r = api.client(INVOKER).post(f"/v2/nvcf/pexec/functions/{echo_fn['id']}", json={},
                                 headers={"NVCF-POLL-SECONDS": "3600"})
    assert r.status_code == 200


def test_unknown_request_id_is_404(api: Running) -> None:
    assert_problem(api.client(INVOKER).get("/v2/nvcf/pexec/status/not-a-request"), 404, "not-a-request")


def test_unknown_function_is_404(api: Running) -> None:
    assert_problem(api.client(INVOKER).post("/v2/nvcf/pexec/functions/nope", json={}), 404, "nope")
    assert_problem(api.client(INVOKER).post("/v2/nvcf/pexec/functions/nope/versions/nada", json={}), 404)


def test_a_function_that_is_not_active_is_503(api: Running) -> None:
    fn = create(api.client(), helm_function("never-deployed"))
    r = api.client(INVOKER).post(f"/v2/nvcf/pexec/functions/{fn['id']}", json={})
    assert_problem(r, 503, "INACTIVE", "ACTIVE")
    r = api.client(INVOKER).post(f"/v2/nvcf/pexec/functions/{fn['id']}/versions/{fn['versionId']}", json={})
    assert_problem(r, 503, "INACTIVE")


def test_pexec_picks_the_newest_active_version(api: Running) -> None:
    client = api.client()
    first = active_function(api, "two-active")
    r = client.post(f"/v2/nvcf/functions/{first['id']}/versions", json=helm_function("two-active"))
    second = r.json()["function"]
    inactive_answer = client.post(f"/v2/nvcf/pexec/functions/{first['id']}", json={}).json()
    assert inactive_answer["version"] == first["versionId"]
    client.post(deployment_path(second), json={"deploymentSpecifications": [gpu_spec()]})
    wait_for_status(client, second, "ACTIVE")
    assert client.post(f"/v2/nvcf/pexec/functions/{first['id']}", json={}).json()["version"] == second["versionId"]


# --- Host routing ---------------------------------------------------------------------------------

def test_api_host_serves_the_api(api: Running) -> None:
    r = api.client().get("/v2/nvcf/functions", headers={"Host": f"api.{GATEWAY}"})
    assert r.status_code == 200
    assert "functions" in r.json()
    with_port = api.client().get("/v2/nvcf/functions", headers={"Host": f"api.{GATEWAY}:8080"})
    assert with_port.status_code == 200


def test_function_host_passes_path_and_query_through(api: Running, echo_fn: dict[str, Any]) -> None:
    host = f"{echo_fn['id']}.invocation.{GATEWAY}"
    r = api.client(INVOKER).put("/any/where%20here?b=2&a=1&a=3", content=b"raw bytes",
                                headers={"Host": host, "content-type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    seen = r.json()
    assert seen["method"] == "PUT"
    assert seen["path"] == "/any/where%20here"
    assert seen["query"] == "b=2&a=1&a=3"
    assert seen["body"] == "raw bytes"
    assert seen["headers"]["content-type"] == "application/octet-stream"
    assert "host" not in seen["headers"]
    assert r.headers["nvcf-reqid"]


def test_host_port_and_case_do_not_matter(api: Running, echo_fn: dict[str, Any]) -> None:
    host = f"{echo_fn['id']}.INVOCATION.{GATEWAY.upper()}:8080"
    r = api.client(INVOKER).get("/x", headers={"Host": host})
    assert r.json()["path"] == "/x"


def test_version_host_pins_the_version(api: Running) -> None:
    client = api.client()
    first = active_function(api, "pinned")
    second = client.post(f"/v2/nvcf/functions/{first['id']}/versions", json=helm_function("pinned")).json()
    client.post(deployment_path(second["function"]), json={"deploymentSpecifications": [gpu_spec()]})
    wait_for_status(client, second["function"], "ACTIVE")
    host = f"{first['versionId']}.{first['id']}.invocation.{GATEWAY}"
    assert api.client(INVOKER).get("/v", headers={"Host": host}).json()["version"] == first["versionId"]


def test_invocation_host_with_function_headers(api: Running, echo_fn: dict[str, Any]) -> None:
    r = api.client(INVOKER).post("/echo?x=1", json={"m": 1}, headers={
        "Host": f"invocation.{GATEWAY}", "function-id": echo_fn["id"], "function-version-id": echo_fn["versionId"]})
    assert r.status_code == 200
    seen = r.json()
    assert (seen["path"], seen["query"], seen["version"]) == ("/echo", "x=1", echo_fn["versionId"])
    assert "function-id" not in seen["headers"]


def test_invocation_host_serves_pexec_by_path(api: Running, echo_fn: dict[str, Any]) -> None:
    client = api.client(INVOKER)
    host = {"Host": f"invocation.{GATEWAY}"}
    r = client.post(f"/v2/nvcf/pexec/functions/{echo_fn['id']}", json={"m": 2}, headers=host)
    assert r.status_code == 200, r.text
    assert r.json()["path"] == "/echo"
    assert client.get(f"/v2/nvcf/pexec/status/{r.headers['nvcf-reqid']}", headers=host).status_code == 200
    # Any other path there is neither pexec nor addressed to a function: NVIDIA's invocation service 404s it.
    assert_problem(client.get("/echo", headers=host), 404, "function-id")
    assert_problem(api.client().get("/v2/nvcf/functions", headers=host), 404)


def test_pass_through_needs_the_invoke_scope(api: Running, echo_fn: dict[str, Any]) -> None:
    host = f"{echo_fn['id']}.invocation.{GATEWAY}"
    with httpx.Client(base_url=api.url) as anon:
        r = anon.get("/echo", headers={"Host": host})
        assert_problem(r, 401)
        assert r.headers["www-authenticate"].startswith("Bearer")
    assert_problem(api.client(READER).get("/echo", headers={"Host": host}), 403, "invoke_function")


def test_pass_through_to_unknown_or_inactive_functions(api: Running) -> None:
    fn = create(api.client(), helm_function("pt-inactive"))
    assert_problem(api.client(INVOKER).get("/", headers={"Host": f"nope.invocation.{GATEWAY}"}), 404)
    assert_problem(api.client(INVOKER).get("/", headers={"Host": f"a.b.c.invocation.{GATEWAY}"}), 404)
    assert_problem(api.client(INVOKER).get("/", headers={"Host": f"{fn['id']}.invocation.{GATEWAY}"}), 503)


def test_other_gateways_are_not_routed(api: Running, echo_fn: dict[str, Any]) -> None:
    r = api.client(ADMIN).get("/v2/nvcf/functions", headers={"Host": f"{echo_fn['id']}.invocation.other.test"})
    assert r.status_code == 200
    assert "functions" in r.json()


def test_pass_through_over_the_body_bound_is_413(api: Running, echo_fn: dict[str, Any]) -> None:
    r = api.client(INVOKER).post("/echo", content=b"1" * (1024 * 1024 + 1),
                                 headers={"Host": f"{echo_fn['id']}.invocation.{GATEWAY}"})
    assert_problem(r, 413)


def test_slow_pass_through_times_out_as_504(server: Callable[..., Running]) -> None:
    running = server(deployer=ScriptedDeployer(), data_plane=EchoDataPlane(), invocation_timeout_seconds=0.3)
    fn = active_function(running, "slowpoke")
    r = running.client(INVOKER).get("/", headers={"Host": f"{fn['id']}.invocation.{GATEWAY}", "x-delay": "2"})
    assert_problem(r, 504, "did not answer")


def test_api_host_without_pexec_answers_404_like_nvidias_stub(server: Callable[..., Running]) -> None:
    running = server(deployer=ScriptedDeployer(), data_plane=EchoDataPlane(), pexec_on_api_host=False)
    fn = active_function(running, "invocation-plane-only")
    client = running.client(INVOKER)
    assert_problem(client.post(f"/v2/nvcf/pexec/functions/{fn['id']}", json={}, headers={"Host": f"api.{GATEWAY}"}),
                   404, f"invocation.{GATEWAY}")
    r = client.post(f"/v2/nvcf/pexec/functions/{fn['id']}", json={}, headers={"Host": f"invocation.{GATEWAY}"})
    assert r.status_code == 200, r.text
