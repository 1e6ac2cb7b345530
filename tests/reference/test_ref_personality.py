"""The API side of the NVIDIA personality: each behaviour switched alone, and the default left as it was."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from ref_support import (
    GATEWAY,
    INVOKER,
    EchoDataPlane,
    Running,
    ScriptedDeployer,
    Step,
    assert_problem,
    container_function,
    create,
    deployment_path,
    gpu_spec,
    helm_function,
    wait_for_status,
)

from reference.config import Behaviour
from reference.ports import DeploymentUpdate, Issue
from reference.problems import NVIDIA_BAD_REQUEST

NVIDIA = Behaviour(refusal_texts="nvidia")
FIRST_404 = Behaviour(inactive_invocation="404-first")
DEGRADE = [Step(0.02, DeploymentUpdate("DEGRADED", "no instance left"))]
TOO_LONG = {"NVCF-POLL-SECONDS": "5000"}


def _start(server: Callable[..., Running], behaviour: Behaviour | None = None, **kwargs: Any) -> Running:
    deployer = kwargs.pop("deployer", None) or ScriptedDeployer(by_prefix={"degraded": DEGRADE})
    if behaviour is not None:
        kwargs["behaviour"] = behaviour
    return server(deployer=deployer, data_plane=EchoDataPlane(), **kwargs)


def _deployed(running: Running, name: str, status: str) -> dict[str, Any]:
    client = running.client()
    fn = create(client, helm_function(name))
    r = client.post(deployment_path(fn), json={"deploymentSpecifications": [gpu_spec()]})
    assert r.status_code == 200, r.text
    return wait_for_status(client, fn, status)


def _pexec(running: Running, fn: dict[str, Any], *, version: bool = False, **headers: str) -> httpx.Response:
    path = f"/v2/nvcf/pexec/functions/{fn['id']}" + (f"/versions/{fn['versionId']}" if version else "")
    return running.client(INVOKER).post(path, json={}, headers=headers)


# ── invoking a function that cannot serve ─────────────────────────────────────────────────────


def test_inactive_is_404_before_the_poll_header_is_read(server: Callable[..., Running]) -> None:
    running = _start(server, FIRST_404)
    fn = create(running.client(), helm_function("never-deployed"))
    for version in (False, True):
        assert_problem(_pexec(running, fn, version=version, **TOO_LONG), 404, fn["id"], "INACTIVE")
        assert_problem(_pexec(running, fn, version=version), 404)
    r = running.client(INVOKER).get("/", headers={"Host": f"{fn['id']}.invocation.{GATEWAY}", **TOO_LONG})
    assert_problem(r, 404)
    # A function that serves still refuses a poll window over an hour, on both paths.
    active = _deployed(running, "serving", "ACTIVE")
    assert_problem(_pexec(running, active, **TOO_LONG), 400, "NVCF-POLL-SECONDS")
    r = running.client(INVOKER).get("/", headers={"Host": f"{active['id']}.invocation.{GATEWAY}", **TOO_LONG})
    assert_problem(r, 400, "NVCF-POLL-SECONDS")


def test_a_degraded_function_is_a_bad_request_as_nvidia_says(server: Callable[..., Running]) -> None:
    running = _start(server, Behaviour(inactive_invocation="404-first", refusal_texts="nvidia"))
    fn = _deployed(running, "degraded-fn", "DEGRADED")
    assert_problem(_pexec(running, fn), 400, f"Function id '{fn['id']}': DEGRADED function cannot be invoked")


def test_inactive_stays_503_after_the_poll_header_by_default(server: Callable[..., Running]) -> None:
    running = _start(server)
    fn = create(running.client(), helm_function("never-deployed"))
    assert_problem(_pexec(running, fn, **TOO_LONG), 400, "NVCF-POLL-SECONDS")
    assert_problem(_pexec(running, fn), 503, "INACTIVE")
    assert_problem(_pexec(running, fn, version=True), 503, "INACTIVE")
    r = running.client(INVOKER).get("/", headers={"Host": f"{fn['id']}.invocation.{GATEWAY}", **TOO_LONG})
    assert_problem(r, 503)  # pass-through never reads the header here
    degraded = _deployed(running, "degraded-fn", "DEGRADED")
    assert_problem(_pexec(running, degraded), 503, "DEGRADED")


def test_nvidia_words_the_invocation_refusals(server: Callable[..., Running]) -> None:
    running = _start(server, Behaviour(inactive_invocation="404-first", refusal_texts="nvidia"))
    fn = create(running.client(), helm_function("never-deployed"))
    nca = running.client().get(f"/v2/nvcf/functions/{fn['id']}/versions/{fn['versionId']}").json()["function"]["ncaId"]
    assert_problem(_pexec(running, fn), 404,
                   f"Function id '{fn['id']}' version 'null': Specified function in account '{nca}' is not found")
    assert_problem(_pexec(running, fn, version=True), 404, f"version '{fn['versionId']}'")
    active = _deployed(running, "serving", "ACTIVE")
    # The service sends only the outermost context of its anyhow error.
    for value in ("5000", "-1", "", "soon"):
        body = assert_problem(_pexec(running, active, **{"NVCF-POLL-SECONDS": value}), 400)
        assert body["detail"] == "failed to parse poll duration", value
    assert _pexec(running, active, **{"NVCF-POLL-SECONDS": "0"}).status_code == 200


def test_the_reference_takes_an_empty_poll_header_and_refuses_a_negative_one(server: Callable[..., Running]) -> None:
    running = _start(server)
    active = _deployed(running, "serving", "ACTIVE")
    assert _pexec(running, active, **{"NVCF-POLL-SECONDS": ""}).status_code == 200
    # A negative number of seconds is no whole number of them (INVOKE-POLL-SECONDS-NOT-NUMBER), as for NVIDIA.
    assert_problem(_pexec(running, active, **{"NVCF-POLL-SECONDS": "-1"}), 400, "whole number")
    assert_problem(_pexec(running, active, **TOO_LONG), 400, "at most 3600")


# ── problem details of request validation ─────────────────────────────────────────────────────


def _no_type(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert "type" not in body and {"title", "status", "detail", "instance"} <= set(body), body
    return body


def test_validation_400s_have_no_type_when_told(server: Callable[..., Running]) -> None:
    running = _start(server, Behaviour(problem_type_on_validation=False))
    client = running.client()
    _no_type(client.post("/v2/nvcf/functions", json={"inferenceUrl": "/x", "containerImage": "r/i:1"}))
    _no_type(client.post("/v2/nvcf/functions", content=b"{not json", headers={"content-type": "application/json"}))
    _no_type(client.post("/v2/nvcf/functions", json={"name": 5}))
    fn = create(client, helm_function("shape"))
    _no_type(client.post(deployment_path(fn), json={"deploymentSpecifications": [gpu_spec(minInstances=3)]}))
    _no_type(client.post(deployment_path(fn), json={"deploymentSpecifications": "no"}))
    # Other statuses, and 400s that are not about the request's fields, keep their type.
    assert assert_problem(client.get("/v2/nvcf/functions/nope/versions/nope"), 404)["type"] == "about:blank"
    assert client.post(deployment_path(fn), json={"deploymentSpecifications": [gpu_spec()]}).status_code == 200
    wait_for_status(client, fn, "ACTIVE")
    assert assert_problem(client.post(deployment_path(fn), json={"deploymentSpecifications": [gpu_spec()]}),
                          400, "already deployed")["type"] == "about:blank"


def test_validation_400s_keep_their_type_by_default(server: Callable[..., Running]) -> None:
    client = _start(server).client()
    body = assert_problem(client.post("/v2/nvcf/functions", json={"inferenceUrl": "/x", "containerImage": "r/i:1"}),
                          400, "'name'")
    assert body["type"] == "about:blank"


# ── gRPC marking ──────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(("violations", "expected"), [
    (frozenset(), {"/gRPC": "gRPC", "/grpc": "gRPC", "/GRPC": "gRPC"}),
    (frozenset({"GRPC-URL-MARKS-FUNCTION"}), {"/gRPC": "HTTP", "/grpc": "gRPC", "/GRPC": "HTTP", "/grpc/": "HTTP"}),
])
def test_only_an_exact_lower_case_grpc_url_marks_a_grpc_function_under_the_mutant(
        server: Callable[..., Running], violations: frozenset[str], expected: dict[str, str]) -> None:
    client = _start(server, violations=violations).client()
    for url, protocol in expected.items():
        fn = create(client, helm_function(f"g{len(url)}", inferenceUrl=url))
        assert fn["health"]["protocol"] == protocol, url


# ── NVIDIA's refusals at function and deployment creation ─────────────────────────────────────

CHART = "oci://registry.test/ns/charts/inference-test-1.0.0.tgz"


def _nvidia_refusal(response: httpx.Response, detail: str) -> None:
    body = assert_problem(response, 400)
    assert body["detail"] == detail and body["type"] == NVIDIA_BAD_REQUEST


def test_nvidia_refuses_chart_schemes_as_its_api_does(server: Callable[..., Running]) -> None:
    client = _start(server, Behaviour(refusal_texts="nvidia", chart_references="helm")).client()
    for url in ("ftp://registry.test/ns/charts/x-1.0.0.tgz", "file:///tmp/x-1.0.0.tgz", "oci:///no-host"):
        _nvidia_refusal(client.post("/v2/nvcf/functions", json=helm_function("s", helmChart=url)),
                        f"Invalid registry URL: {url}")
    url = "127.0.0.1:5000/ns/charts/x-1.0.0.tgz"
    _nvidia_refusal(client.post("/v2/nvcf/functions", json=helm_function("s", helmChart=url)),
                    f"Illegal character in scheme name at index 0: {url}")
    # http passes creation (NVIDIA's validator refuses it at deployment), as do tags and other forms.
    for url in ("http://registry.test/ns/charts/x-1.0.0.tgz", "oci://registry.test/ns/charts/x:1.0.0"):
        create(client, helm_function("fine", helmChart=url))
    # Field checks come first, in their own 400 (bean validation), as on NVIDIA's API.
    assert "'name'" in _no_type_or_type(client.post("/v2/nvcf/functions", json=helm_function(
        None, helmChart="ftp://x/y")))


def _no_type_or_type(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    return str(response.json()["detail"])


def test_the_reference_refuses_chart_schemes_in_its_own_words(server: Callable[..., Running]) -> None:
    client = _start(server).client()
    for url in ("ftp://registry.test/ns/charts/x-1.0.0.tgz", "http://registry.test/ns/charts/x-1.0.0.tgz"):
        body = assert_problem(client.post("/v2/nvcf/functions", json=helm_function("s", helmChart=url)), 400,
                              "'helmChart' must use the oci or https scheme")
        assert body["type"] == "about:blank"


def test_helm_references_take_http_at_creation_in_the_references_own_words(server: Callable[..., Running]) -> None:
    client = _start(server, Behaviour(chart_references="helm")).client()
    create(client, helm_function("fine", helmChart="http://registry.test/ns/charts/x-1.0.0.tgz"))
    assert_problem(client.post("/v2/nvcf/functions", json=helm_function("s", helmChart="ftp://r/x")), 400,
                   "'helmChart' must use")


def test_nvidia_refuses_an_unknown_instance_type_alone(server: Callable[..., Running]) -> None:
    client = _start(server, NVIDIA).client()
    fn = create(client, helm_function("types"))
    for instance_type in ("L40S_1x", "DGXC.GPU.H100_1x"):
        r = client.post(deployment_path(fn), json={"deploymentSpecifications": [gpu_spec(instanceType=instance_type)]})
        _nvidia_refusal(r, f"Function id '{fn['id']}', version '{fn['versionId']}': "
                           f"Invalid InstanceType '{instance_type}' specified")
    # A field check still wins, with every field issue in one 400.
    r = client.post(deployment_path(fn), json={"deploymentSpecifications": [gpu_spec(instanceType="x",
                                                                                         maxInstances=0)]})
    assert_problem(r, 400, "maxInstances")


def test_the_reference_names_the_instance_type_grammar(server: Callable[..., Running]) -> None:
    client = _start(server).client()
    fn = create(client, helm_function("types"))
    r = client.post(deployment_path(fn), json={"deploymentSpecifications": [gpu_spec(instanceType="L40S_1x")]})
    assert_problem(r, 400, "does not follow <CSP>.GPU.<GPU>")


@pytest.mark.parametrize("texts", ["nvidia", "reference"])
def test_the_deployers_refusal_is_sent_as_it_is_in_nvidia_texts(server: Callable[..., Running], texts: str) -> None:
    said = "Helm chart validation error(s) from NVCF ReVal service: unsupported types: [\"apps/v1.DaemonSet\"]"
    deployer = ScriptedDeployer(deployment_issues={"refused": [Issue(said)]})
    client = _start(server, Behaviour(refusal_texts=texts), deployer=deployer).client()  # type: ignore[arg-type]
    fn = create(client, helm_function("refused"))
    r = client.post(deployment_path(fn), json={"deploymentSpecifications": [gpu_spec()]})
    if texts == "nvidia":
        _nvidia_refusal(r, said)
    else:
        assert assert_problem(r, 400, said)["detail"] == f"Invalid request: the deployment was refused: {said}"
    assert client.get(f"/v2/nvcf/functions/{fn['id']}/versions/{fn['versionId']}").json()["function"][
        "status"] == "INACTIVE"


def test_container_functions_are_untouched_by_chart_settings(server: Callable[..., Running]) -> None:
    client = _start(server, Behaviour(refusal_texts="nvidia", chart_references="helm")).client()
    create(client, container_function("plain"))
