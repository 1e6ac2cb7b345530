"""The management-API behaviours of issue #11 (part 2a) on the reference, and the mutant of each.

Auth (401 without or with an unknown bearer, 403 without the scope), the list endpoints, the deployment
GET by version and by id, updates by PUT and PATCH, graceful removal, deploying over ERROR, the
maxRequestConcurrency bounds, the `health` object, the inferencePort default and helmValidationPolicy.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from ref_support import (
    HOLD,
    INVOKER,
    READER,
    Running,
    ScriptedDeployer,
    Step,
    assert_problem,
    container_function,
    create,
    deployment_path,
    gpu_spec,
    helm_function,
    version_path,
    wait_for_status,
)

from reference.auth import API_KEY_SCOPES, MANAGEMENT_SCOPES, load_or_generate
from reference.config import Behaviour
from reference.ports import DeploymentUpdate

HEALTH = {"protocol": "HTTP", "uri": "/v2/health/live", "port": 8000, "timeout": "PT10S", "expectedStatusCode": 200}
FAILING = [Step(0.0, DeploymentUpdate("DEPLOYING")), Step(0.02, DeploymentUpdate("ERROR", "the mini-service exited"))]
IGNORED = Behaviour(update_fixed_fields="ignored", refusal_texts="nvidia")


def _deploy(client: httpx.Client, fn: dict[str, Any], **spec: Any) -> httpx.Response:
    return client.post(deployment_path(fn), json={"deploymentSpecifications": [gpu_spec(**spec)]})


def _active(running: Running, name: str = "upd", **spec: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A helm function deployed to ACTIVE, and its deployment as the GET answers it."""
    client = running.client()
    fn = create(client, helm_function(name))
    assert _deploy(client, fn, **spec).status_code == 200
    wait_for_status(client, fn, "ACTIVE")
    return fn, client.get(deployment_path(fn)).json()["deployment"]


def _patch_path(dep: dict[str, Any], spec_id: str | None = None) -> str:
    spec_id = spec_id or dep["deploymentSpecifications"][0]["gpuSpecificationId"]
    return f"/v2/nvcf/deployments/{dep['deploymentId']}/gpu-specifications/{spec_id}"


# ── auth ──────────────────────────────────────────────────────────────────────────────────────────

# A fixed id: a random one would make the test ids differ between xdist workers.
@pytest.mark.parametrize("path", ["/v2/nvcf/functions",
                                  "/v2/nvcf/pexec/functions/5b0c1f9e-6a43-4d1e-9f0a-2d7c8e3b1a40"])
def test_no_or_unknown_bearer_is_401(api: Running, path: str) -> None:
    method = "GET" if path.endswith("functions") else "POST"
    for headers in ({}, {"Authorization": "Bearer never-issued-7d1e"}):
        with httpx.Client(base_url=api.url, timeout=10) as anonymous:
            assert_problem(anonymous.request(method, path, headers=headers, json={}), 401)


def test_a_credential_without_the_scope_is_403(api: Running) -> None:
    assert_problem(api.client(INVOKER).post("/v2/nvcf/functions", json=helm_function("no-scope")), 403,
                   "register_function")
    assert_problem(api.client(READER).post(f"/v2/nvcf/pexec/functions/{uuid.uuid4()}", json={}), 403,
                   "invoke_function")


def test_generated_credentials_carry_nvcf_s_two_scope_sets(tmp_path: Path) -> None:
    _, generated = load_or_generate(tmp_path / "tokens.json")
    assert generated
    tokens = json.loads((tmp_path / "tokens.json").read_text())["tokens"]
    scopes = {entry["name"]: set(entry["scopes"]) for entry in tokens.values()}
    assert scopes == {"admin": set(MANAGEMENT_SCOPES), "api-key": set(API_KEY_SCOPES)}
    assert "invoke_function" not in scopes["admin"] and "register_function" not in scopes["api-key"]


def test_auth_mutants(server: Callable[..., Running]) -> None:
    lax = server(violations=frozenset({"API-AUTH-REQUIRED"}))
    with httpx.Client(base_url=lax.url, timeout=10) as anonymous:
        assert anonymous.get("/v2/nvcf/functions", headers={"Authorization": "Bearer made-up"}).status_code == 200
        assert anonymous.get("/v2/nvcf/functions").status_code == 401  # only the unknown token is taken
    scopeless = server(violations=frozenset({"API-AUTH-SCOPE"}))
    assert scopeless.client(INVOKER).post("/v2/nvcf/functions", json=helm_function("x")).status_code == 200


# ── lists ─────────────────────────────────────────────────────────────────────────────────────────

def _listed(client: httpx.Client, fn: dict[str, Any]) -> tuple[bool, bool, bool]:
    every = client.get("/v2/nvcf/functions").json()["functions"]
    ids = client.get("/v2/nvcf/functions/ids").json()["functionIds"]
    versions = client.get(f"/v2/nvcf/functions/{fn['id']}/versions")
    in_versions = versions.status_code == 200 and any(
        f["versionId"] == fn["versionId"] for f in versions.json()["functions"])
    return any(f["versionId"] == fn["versionId"] for f in every), fn["id"] in ids, in_versions


@pytest.mark.parametrize("mutant", [False, True])
def test_deleted_versions_leave_the_lists(server: Callable[..., Running], mutant: bool) -> None:
    running = server(violations=frozenset({"API-LIST-FUNCTIONS"} if mutant else set()))
    client = running.client()
    fn = create(client, helm_function("listed"))
    assert _listed(client, fn) == (True, True, True)
    assert client.delete(version_path(fn)).status_code == 204
    assert _listed(client, fn) == ((True, True, True) if mutant else (False, False, False))


# ── deployment GET ────────────────────────────────────────────────────────────────────────────────

@pytest.mark.parametrize("mutant", [False, True])
def test_deployment_get_echoes_the_specification(server: Callable[..., Running], mutant: bool) -> None:
    running = server(deployer=ScriptedDeployer(HOLD),
                     violations=frozenset({"DEPLOY-GET-ECHOES-SPEC"} if mutant else set()))
    client = running.client()
    fn = create(client, helm_function("echo"))
    configuration = {"a": {"b": [1, 2]}, "c": "d"}
    assert _deploy(client, fn, maxRequestConcurrency=3, configuration=configuration).status_code == 200
    by_version = client.get(deployment_path(fn)).json()["deployment"]
    by_id = client.get(f"/v2/nvcf/deployments/{by_version['deploymentId']}").json()["deployment"]
    for dep in (by_version, by_id):
        spec = dep["deploymentSpecifications"][0]
        assert spec["maxRequestConcurrency"] == 3 and uuid.UUID(spec["gpuSpecificationId"])
        assert spec.get("configuration") == (None if mutant else configuration)
    assert_problem(client.get(f"/v2/nvcf/deployments/{uuid.uuid4()}"), 404)


# ── PUT ───────────────────────────────────────────────────────────────────────────────────────────

def _put(client: httpx.Client, fn: dict[str, Any], **changes: Any) -> httpx.Response:
    return client.put(deployment_path(fn), json={"deploymentSpecifications": [
        {"minInstances": 1, "maxInstances": 2, "maxRequestConcurrency": 4, **changes}]})


@pytest.mark.parametrize("mutant", [False, True])
def test_put_updates_the_counts(server: Callable[..., Running], mutant: bool) -> None:
    running = server(deployer=ScriptedDeployer(),
                     violations=frozenset({"DEPLOY-PUT-UPDATES-COUNTS"} if mutant else set()))
    fn, _ = _active(running)
    answer = _put(running.client(), fn)
    assert answer.status_code == 200, answer.text
    assert answer.json()["deployment"]["deploymentSpecifications"][0]["maxInstances"] == 2
    spec = running.client().get(deployment_path(fn)).json()["deployment"]["deploymentSpecifications"][0]
    assert (spec["maxInstances"], spec.get("maxRequestConcurrency")) == ((1, None) if mutant else (2, 4))


@pytest.mark.parametrize(("field", "value"), [("gpu", "H100"), ("instanceType", "DGXC.GPU.H100_1x"),
                                              ("backend", "other"), ("clusters", ["c9"])])
def test_put_refuses_a_fixed_field(server: Callable[..., Running], field: str, value: Any) -> None:
    running = server(deployer=ScriptedDeployer())
    fn, _ = _active(running)
    assert_problem(_put(running.client(), fn, **{field: value}), 400, field)
    mutant = server(deployer=ScriptedDeployer(), violations=frozenset({"DEPLOY-PUT-FIXED-FIELDS"}))
    fn, _ = _active(mutant, "upd-mutant")
    assert _put(mutant.client(), fn, **{field: value}).status_code == 200
    spec = mutant.client().get(deployment_path(fn)).json()["deployment"]["deploymentSpecifications"][0]
    assert spec[field] == value


def test_put_as_nvidia_ignores_gpu_and_instance_type_but_not_backend(server: Callable[..., Running]) -> None:
    running = server(deployer=ScriptedDeployer(), behaviour=IGNORED)
    fn, _ = _active(running)
    assert _put(running.client(), fn, gpu="H100", instanceType="DGXC.GPU.H100_1x").status_code == 200
    spec = running.client().get(deployment_path(fn)).json()["deployment"]["deploymentSpecifications"][0]
    assert (spec["gpu"], spec["instanceType"], spec["maxInstances"]) == ("L40S", "DGXC.GPU.L40S_1x", 2)
    body = assert_problem(_put(running.client(), fn, backend="other"), 400, "Backend 'other' field does not match")
    assert body["type"] == "urn:nv-boot:problem-details:bad-request"


def test_put_needs_a_deployment_that_is_up_and_sane_counts(server: Callable[..., Running]) -> None:
    running = server(deployer=ScriptedDeployer(by_prefix={"broken": FAILING}))
    client = running.client()
    fn, _ = _active(running)
    assert_problem(_put(client, fn, minInstances=3), 400, "minInstances")
    assert_problem(_put(client, fn, maxRequestConcurrency=0), 400, "maxRequestConcurrency")
    assert_problem(_put(client, fn, gpuSpecificationId=str(uuid.uuid4())), 400, "gpuSpecificationId")
    broken = create(client, helm_function("broken-put"))
    _deploy(client, broken)
    wait_for_status(client, broken, "ERROR")
    assert_problem(_put(client, broken), 400, "ERROR")
    idle = create(client, helm_function("idle"))
    assert_problem(_put(client, idle), 400, "INACTIVE")


# ── PATCH ─────────────────────────────────────────────────────────────────────────────────────────

@pytest.mark.parametrize("mutant", [False, True])
def test_patch_updates_the_counts(server: Callable[..., Running], mutant: bool) -> None:
    running = server(deployer=ScriptedDeployer(),
                     violations=frozenset({"DEPLOY-PATCH-UPDATES-COUNTS"} if mutant else set()))
    fn, dep = _active(running)
    answer = running.client().patch(_patch_path(dep), json={"maxInstances": 3, "maxRequestConcurrency": 2})
    assert answer.status_code == 200, answer.text
    assert answer.json()["gpuSpecification"]["maxInstances"] == 3
    spec = running.client().get(deployment_path(fn)).json()["deployment"]["deploymentSpecifications"][0]
    assert (spec["maxInstances"], spec.get("maxRequestConcurrency")) == ((1, None) if mutant else (3, 2))


@pytest.mark.parametrize(("field", "value"), [("gpu", "H100"), ("instanceType", "DGXC.GPU.H100_1x"),
                                              ("backend", "other")])
def test_patch_refuses_a_fixed_field(server: Callable[..., Running], field: str, value: Any) -> None:
    running = server(deployer=ScriptedDeployer())
    _, dep = _active(running)
    assert_problem(running.client().patch(_patch_path(dep), json={"maxInstances": 2, field: value}), 400, field)
    mutant = server(deployer=ScriptedDeployer(), violations=frozenset({"DEPLOY-PATCH-FIXED-FIELDS"}))
    fn, dep = _active(mutant, "patch-mutant")
    assert mutant.client().patch(_patch_path(dep), json={"maxInstances": 2, field: value}).status_code == 200
    spec = mutant.client().get(deployment_path(fn)).json()["deployment"]["deploymentSpecifications"][0]
    assert spec[field] == value


def test_patch_as_nvidia_reads_only_the_counts(server: Callable[..., Running]) -> None:
    running = server(deployer=ScriptedDeployer(), behaviour=IGNORED)
    fn, dep = _active(running)
    answer = running.client().patch(_patch_path(dep), json={"maxInstances": 2, "gpu": "H100", "backend": "x",
                                                            "maxRequestConcurrency": 9})
    assert answer.status_code == 200, answer.text
    spec = running.client().get(deployment_path(fn)).json()["deployment"]["deploymentSpecifications"][0]
    assert (spec["gpu"], spec.get("backend"), spec["maxInstances"], spec.get("maxRequestConcurrency")) == (
        "L40S", None, 2, None)
    assert_problem(running.client().patch(_patch_path(dep), json={"maxRequestConcurrency": 9}), 400,
                   "Empty update gpu specification request")


def test_patch_refusals(api: Running) -> None:
    _, dep = _active(api, "patch-refusals")
    client = api.client()
    assert_problem(client.patch(_patch_path(dep), json={}), 400, "nothing to change")
    assert_problem(client.patch(_patch_path(dep), json={"minInstances": 2}), 400, "minInstances")
    assert_problem(client.patch(_patch_path(dep), json={"maxInstances": 0}), 400, "maxInstances")
    assert_problem(client.patch(_patch_path(dep, str(uuid.uuid4())), json={"maxInstances": 2}), 404)
    assert_problem(client.patch(f"/v2/nvcf/deployments/{uuid.uuid4()}/gpu-specifications/x",
                                json={"maxInstances": 2}), 404)
    assert_problem(api.client(READER).patch(_patch_path(dep), json={"maxInstances": 2}), 403)


# ── removal, redeploy, bounds ─────────────────────────────────────────────────────────────────────

@pytest.mark.parametrize("mutant", [False, True])
def test_graceful_removal(server: Callable[..., Running], mutant: bool) -> None:
    running = server(deployer=ScriptedDeployer(),
                     violations=frozenset({"DEPLOY-DELETE-GRACEFUL"} if mutant else set()))
    fn, _ = _active(running)
    answer = running.client().delete(deployment_path(fn), params={"graceful": "true"})
    if mutant:
        assert_problem(answer, 400, "graceful")
        return
    assert answer.status_code == 200 and answer.json()["function"]["status"] == "INACTIVE"


@pytest.mark.parametrize("mutant", [False, True])
def test_deploying_over_an_error(server: Callable[..., Running], mutant: bool) -> None:
    running = server(deployer=ScriptedDeployer(by_prefix={"broken": FAILING}),
                     violations=frozenset({"DEPLOY-OVER-ERROR-REFUSED"} if mutant else set()))
    client = running.client()
    fn = create(client, helm_function("broken-again"))
    _deploy(client, fn)
    wait_for_status(client, fn, "ERROR")
    if mutant:
        assert _deploy(client, fn).status_code == 200
    else:
        assert_problem(_deploy(client, fn), 400, "already has a deployment with errors")


def test_deploying_over_an_error_in_nvidia_s_words(server: Callable[..., Running]) -> None:
    running = server(deployer=ScriptedDeployer(by_prefix={"broken": FAILING}), behaviour=IGNORED)
    client = running.client()
    fn = create(client, helm_function("broken-nvidia"))
    _deploy(client, fn)
    wait_for_status(client, fn, "ERROR")
    assert_problem(_deploy(client, fn), 400, f"Function id '{fn['id']}', version '{fn['versionId']}': "
                                             "Function already has a deployment with errors")


@pytest.mark.parametrize("mutant", [False, True])
def test_max_request_concurrency_bounds(server: Callable[..., Running], mutant: bool) -> None:
    running = server(deployer=ScriptedDeployer(HOLD),
                     violations=frozenset({"DEPLOY-MAX-CONCURRENCY-BOUNDS"} if mutant else set()))
    client = running.client()
    for value in (0, 16385):
        fn = create(client, helm_function(f"conc-{value}"))
        answer = _deploy(client, fn, maxRequestConcurrency=value)
        if mutant:
            assert answer.status_code == 200, answer.text
        else:
            assert_problem(answer, 400, "maxRequestConcurrency")
    assert _deploy(client, create(client, helm_function("conc-ok")), maxRequestConcurrency=16384).status_code == 200


# ── health, inferencePort ─────────────────────────────────────────────────────────────────────────

@pytest.mark.parametrize("missing", list(HEALTH))
def test_every_health_field_is_required(server: Callable[..., Running], missing: str) -> None:
    health = {k: v for k, v in HEALTH.items() if k != missing}
    running = server()
    assert_problem(running.client().post("/v2/nvcf/functions", json=helm_function("h", health=health)), 400,
                   f"health.{missing}")
    mutant = server(violations=frozenset({"FN-HEALTH-FIELDS-REQUIRED"}))
    fn = create(mutant.client(), helm_function("h", health=health))
    assert set(fn["health"]) == set(HEALTH)


@pytest.mark.parametrize("mutant", [False, True])
def test_the_given_health_object_decides_the_check(server: Callable[..., Running], mutant: bool) -> None:
    running = server(violations=frozenset({"FN-HEALTH-GATES-ACTIVE"} if mutant else set()))
    fn = create(running.client(), helm_function("h", health=HEALTH))
    assert fn["health"]["uri"] == ("/v2/health/ready" if mutant else "/v2/health/live")


@pytest.mark.parametrize("mutant", [False, True])
def test_inference_port_defaults_to_8000(server: Callable[..., Running], mutant: bool) -> None:
    running = server(violations=frozenset({"FN-INFERENCE-PORT-DEFAULT"} if mutant else set()))
    fn = create(running.client(), helm_function("port", inferencePort=None))
    assert (fn["inferencePort"], fn["health"]["port"]) == ((8080, 8080) if mutant else (8000, 8000))


# ── helmValidationPolicy ──────────────────────────────────────────────────────────────────────────

POLICY = {"name": "Default", "extraKubernetesTypes": [{"group": "example.com", "version": "v1", "kind": "Widget"}]}
BAD_POLICIES = [
    ({"name": "Strict"}, "name"),
    ({"extraKubernetesTypes": POLICY["extraKubernetesTypes"]}, "name"),
    ({"name": "Default", "extraKubernetesTypes": []}, "extraKubernetesTypes"),
    ({"name": "Default", "extraKubernetesTypes": [{"group": " ", "version": "v1", "kind": "W"}]},
     "extraKubernetesTypes[0].group"),
]


@pytest.mark.parametrize(("policy", "needle"), BAD_POLICIES)
def test_helm_validation_policy_is_checked(server: Callable[..., Running], policy: dict[str, Any],
                                           needle: str) -> None:
    running = server(deployer=ScriptedDeployer(HOLD))
    client = running.client()
    assert_problem(_deploy(client, create(client, helm_function("pol")), helmValidationPolicy=policy), 400,
                   f"helmValidationPolicy.{needle}")
    mutant = server(deployer=ScriptedDeployer(HOLD), violations=frozenset({"DEPLOY-HELM-POLICY-VALIDATED"}))
    assert _deploy(mutant.client(), create(mutant.client(), helm_function("pol")),
                   helmValidationPolicy=policy).status_code == 200


def test_helm_validation_policy_is_refused_for_container_functions(api: Running) -> None:
    client = api.client()
    fn = create(client, container_function("pol-container"))
    assert_problem(_deploy(client, fn, helmValidationPolicy=POLICY), 400, "container based")


@pytest.mark.parametrize("mutant", [False, True])
def test_helm_validation_policy_is_kept(server: Callable[..., Running], mutant: bool) -> None:
    running = server(deployer=ScriptedDeployer(HOLD),
                     violations=frozenset({"DEPLOY-HELM-POLICY-KEPT"} if mutant else set()))
    client = running.client()
    fn = create(client, helm_function("pol-kept"))
    assert _deploy(client, fn, helmValidationPolicy={**POLICY, "name": "default"}).status_code == 200
    spec = client.get(deployment_path(fn)).json()["deployment"]["deploymentSpecifications"][0]
    assert spec.get("helmValidationPolicy") == (None if mutant else POLICY)
