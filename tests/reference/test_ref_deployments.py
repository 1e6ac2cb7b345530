"""Deployments over real HTTP: the 400 cases, and status transitions driven by a test-double deployer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from ref_support import (
    HOLD,
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

from reference.null_backend import NO_DEPLOYER
from reference.ports import DeploymentUpdate, Instance, Issue


def deploy(running: Running, fn: dict[str, Any], *specs: dict[str, Any]) -> Any:
    return running.client().post(deployment_path(fn), json={"deploymentSpecifications": list(specs or [gpu_spec()])})


BAD_SPECS: list[tuple[str, Any, list[str]]] = [
    ("no specifications", {"deploymentSpecifications": []}, ["deploymentSpecifications"]),
    ("specifications missing", {}, ["deploymentSpecifications"]),
    ("specifications not a list", {"deploymentSpecifications": {"gpu": "L40S"}}, ["deploymentSpecifications"]),
    ("gpu missing", [gpu_spec(gpu=None)], ["deploymentSpecifications[0].gpu"]),
    ("gpu blank", [gpu_spec(gpu="  ")], ["deploymentSpecifications[0].gpu"]),
    ("min above max", [gpu_spec(minInstances=3, maxInstances=2)], ["minInstances", "maxInstances"]),
    ("max zero", [gpu_spec(minInstances=0, maxInstances=0)], ["maxInstances", "at least 1"]),
    ("min negative", [gpu_spec(minInstances=-1)], ["minInstances", "negative"]),
    ("max missing", [gpu_spec(maxInstances=None)], ["maxInstances", "required"]),
    ("min missing", [gpu_spec(minInstances=None)], ["minInstances", "required"]),
    ("max as string", [gpu_spec(maxInstances="2")], ["maxInstances", "integer"]),
    # Without instanceType the page's override example is taken (one GPU of `gpu`); without gpu as well, not.
    ("instance type and gpu missing", [gpu_spec(instanceType=None, gpu=None)], ["instanceType", "required"]),
    ("instance type lower-case gpu marker", [gpu_spec(instanceType="DGXC.gpu.L40S_1x")], ["instanceType"]),
    ("instance type without count", [gpu_spec(instanceType="DGXC.GPU.L40S")], ["instanceType"]),
    ("instance type zero gpus", [gpu_spec(instanceType="DGXC.GPU.L40S_0x")], ["instanceType"]),
    ("instance type bad nodes", [gpu_spec(instanceType="DGXC.GPU.L40S_1x.2")], ["instanceType"]),
    ("instance type zero nodes", [gpu_spec(instanceType="DGXC.GPU.L40S_8x.x0")], ["instanceType"]),
    ("instance type without csp", [gpu_spec(instanceType="GPU.L40S_1x")], ["instanceType"]),
    ("instance type of another gpu", [gpu_spec(instanceType="DGXC.GPU.H100_1x")], ["H100", "L40S"]),
    ("configuration a list", [gpu_spec(configuration=[1, 2])], ["configuration", "JSON object"]),
    ("configuration a string", [gpu_spec(configuration="a: 1")], ["configuration", "JSON object"]),
    ("concurrency too high", [gpu_spec(maxRequestConcurrency=16385)], ["maxRequestConcurrency"]),
    ("backend and clusters", [gpu_spec(backend="b", clusters=["c"])], ["backend", "clusters"]),
    ("second spec bad", [gpu_spec(), gpu_spec(gpu="")], ["deploymentSpecifications[1].gpu"]),
]


@pytest.mark.parametrize(("body", "needles"), [(b, n) for _, b, n in BAD_SPECS], ids=[i for i, _, _ in BAD_SPECS])
def test_deployment_refusals(api: Running, body: Any, needles: list[str]) -> None:
    fn = create(api.client(), helm_function("deploy-bad"))
    payload = {"deploymentSpecifications": body} if isinstance(body, list) else body
    assert_problem(api.client().post(deployment_path(fn), json=payload), 400, *needles)
    assert api.client().get(version_path(fn)).json()["function"]["status"] == "INACTIVE"
    assert_problem(api.client().get(deployment_path(fn)), 404)


@pytest.mark.parametrize("instance_type", ["DGXC.GPU.L40S_1x", "ON-PREM.GPU.L40S_8x.x2", "OCI.GPU.l40s_4x.x16"])
def test_instance_types_the_grammar_allows(api: Running, instance_type: str) -> None:
    fn = create(api.client(), helm_function("grammar-ok"))
    r = deploy(api, fn, gpu_spec(instanceType=instance_type))
    assert r.status_code == 200, r.text
    assert r.json()["deployment"]["deploymentSpecifications"][0]["instanceType"] == instance_type


def test_configuration_is_refused_for_container_functions(api: Running) -> None:
    fn = create(api.client(), container_function("container-config"))
    r = deploy(api, fn, gpu_spec(configuration={"replicas": 2}))
    assert_problem(r, 400, "configuration", "container based", fn["versionId"])


def test_configuration_is_echoed_for_helm_functions(api: Running) -> None:
    fn = create(api.client(), helm_function("helm-config"))
    overrides = {"image": {"tag": "2"}, "replicas": 2}
    r = deploy(api, fn, gpu_spec(configuration=overrides))
    assert r.status_code == 200, r.text
    dep = r.json()["deployment"]
    assert dep["deploymentSpecifications"][0]["configuration"] == overrides
    assert dep["functionStatus"] == "DEPLOYING"
    assert dep["functionId"] == fn["id"] and dep["functionVersionId"] == fn["versionId"]
    assert dep["functionName"] == "helm-config"
    assert "healthInfo" not in dep


def test_deploying_an_unknown_function_is_404(api: Running) -> None:
    fake = {"id": "00000000-0000-0000-0000-00000000000a", "versionId": "00000000-0000-0000-0000-00000000000b"}
    assert_problem(deploy(api, fake), 404)
    assert_problem(api.client().get(deployment_path(fake)), 404)
    assert_problem(api.client().delete(deployment_path(fake)), 404)


def test_status_goes_inactive_deploying_active_inactive(api: Running) -> None:
    client = api.client()
    fn = create(client, helm_function("lifecycle"))
    assert fn["status"] == "INACTIVE"
    assert deploy(api, fn).json()["deployment"]["functionStatus"] == "DEPLOYING"
    active = wait_for_status(client, fn, "ACTIVE")
    assert active["activeInstances"][0]["instanceId"] == "i-1"
    assert active["activeInstances"][0]["functionVersionId"] == fn["versionId"]
    dep = client.get(deployment_path(fn)).json()["deployment"]
    assert dep["functionStatus"] == "ACTIVE"
    # Deploying again while deployed is refused.
    assert_problem(deploy(api, fn), 400, "ACTIVE")
    r = client.delete(deployment_path(fn))
    assert r.status_code == 200, r.text
    assert r.json()["function"]["status"] == "INACTIVE"
    assert r.json()["function"]["activeInstances"] == []
    assert fn["versionId"] in api.deployer.undeploy_calls
    assert_problem(client.get(deployment_path(fn)), 404)
    assert_problem(client.delete(deployment_path(fn)), 404)
    # And it can be deployed again.
    assert deploy(api, fn).status_code == 200
    wait_for_status(client, fn, "ACTIVE")


def test_redeploying_while_deploying_is_400(server: Callable[..., Running]) -> None:
    running = server(deployer=ScriptedDeployer(HOLD))
    fn = create(running.client(), helm_function("held"))
    assert deploy(running, fn).status_code == 200
    assert_problem(deploy(running, fn), 400, "DEPLOYING")


def test_error_records_the_reason_and_blocks_redeploy_until_removed(server: Callable[..., Running]) -> None:
    failing = [Step(0.0, DeploymentUpdate("DEPLOYING")),
               Step(0.05, DeploymentUpdate("ERROR", "unsupported kind Ingress 'web'"))]
    running = server(deployer=ScriptedDeployer(by_prefix={"broken": failing}))
    client = running.client()
    fn = create(client, helm_function("broken-chart"))
    deploy(running, fn, gpu_spec(backend="b1"))
    wait_for_status(client, fn, "ERROR")
    dep = client.get(deployment_path(fn)).json()["deployment"]
    assert dep["functionStatus"] == "ERROR"
    assert dep["healthInfo"] == [{"gpu": "L40S", "instanceType": "DGXC.GPU.L40S_1x", "backend": "b1",
                                  "error": "unsupported kind Ingress 'web'"}]
    assert_problem(deploy(running, fn), 400, "errors")
    assert client.delete(deployment_path(fn)).json()["function"]["status"] == "INACTIVE"
    assert deploy(running, fn).status_code == 200


def test_a_deployer_that_raises_ends_in_error(server: Callable[..., Running]) -> None:
    running = server(deployer=ScriptedDeployer(by_prefix={"explodes": "raise"}))
    fn = create(running.client(), helm_function("explodes"))
    deploy(running, fn)
    wait_for_status(running.client(), fn, "ERROR")
    info = running.client().get(deployment_path(fn)).json()["deployment"]["healthInfo"]
    assert "cluster unreachable" in info[0]["error"]


def test_a_deployer_that_stops_early_ends_in_error(server: Callable[..., Running]) -> None:
    running = server(deployer=ScriptedDeployer([Step(0.0, DeploymentUpdate("DEPLOYING"))]))
    fn = create(running.client(), helm_function("quitter"))
    deploy(running, fn)
    wait_for_status(running.client(), fn, "ERROR")
    info = running.client().get(deployment_path(fn)).json()["deployment"]["healthInfo"]
    assert "before the deployment became ACTIVE" in info[0]["error"]


def test_health_watch_reports_after_active_are_applied(server: Callable[..., Running]) -> None:
    script = [
        Step(0.0, DeploymentUpdate("ACTIVE", instances=(Instance("i-1", "RUNNING"), Instance("i-2", "RUNNING")))),
        Step(0.1, DeploymentUpdate("DEGRADING", "instance i-2 lost", instances=(Instance("i-1", "RUNNING"),))),
        Step(0.1, DeploymentUpdate("ACTIVE", instances=(Instance("i-1", "RUNNING"), Instance("i-3", "RUNNING")))),
        Step(0.0, None),
    ]
    running = server(deployer=ScriptedDeployer(script))
    client = running.client()
    fn = create(client, helm_function("watched"))
    deploy(running, fn)
    degrading = wait_for_status(client, fn, "DEGRADING")
    assert [i["instanceId"] for i in degrading["activeInstances"]] == ["i-1"]
    healed = wait_for_status(client, fn, "ACTIVE")
    # Once healthy again the error entry is gone.
    dep = client.get(deployment_path(healed)).json()["deployment"]
    assert "healthInfo" not in dep


def test_invalid_reports_from_the_deployer_are_not_applied(server: Callable[..., Running]) -> None:
    script = [Step(0.0, DeploymentUpdate("ERROR", "boom")), Step(0.0, DeploymentUpdate("ACTIVE"))]
    running = server(deployer=ScriptedDeployer(script))
    fn = create(running.client(), helm_function("stays-failed"))
    deploy(running, fn)
    wait_for_status(running.client(), fn, "ERROR")
    assert running.client().get(version_path(fn)).json()["function"]["status"] == "ERROR"


def test_unknown_status_from_the_deployer_is_an_error(server: Callable[..., Running]) -> None:
    running = server(deployer=ScriptedDeployer([Step(0.0, DeploymentUpdate("RUNNING"))]))
    fn = create(running.client(), helm_function("odd-status"))
    deploy(running, fn)
    wait_for_status(running.client(), fn, "ERROR")
    info = running.client().get(deployment_path(fn)).json()["deployment"]["healthInfo"]
    assert "RUNNING" in info[0]["error"]


def test_deployer_checks_refuse_creation_and_deployment(server: Callable[..., Running]) -> None:
    deployer = ScriptedDeployer(
        creation_issues={"bad-ref": [Issue("chart version '1.0-test' contains '-'", field="helmChart")]},
        deployment_issues={"bad-render": [Issue("Service 'entrypoint' has no port 8000")]},
    )
    running = server(deployer=deployer)
    r = running.client().post("/v2/nvcf/functions", json=helm_function("bad-ref"))
    assert_problem(r, 400, "helmChart", "1.0-test")
    fn = create(running.client(), helm_function("bad-render"))
    assert_problem(deploy(running, fn), 400, "Service 'entrypoint' has no port 8000")
    assert running.client().get(version_path(fn)).json()["function"]["status"] == "INACTIVE"
    assert deployer.deploy_calls == []


def test_without_a_deployer_deployments_fail_honestly(server: Callable[..., Running]) -> None:
    running = server()  # NullDeployer, NullDataPlane
    fn = create(running.client(), helm_function("no-backend"))
    assert deploy(running, fn).status_code == 200
    wait_for_status(running.client(), fn, "ERROR")
    info = running.client().get(deployment_path(fn)).json()["deployment"]["healthInfo"]
    assert info[0]["error"] == NO_DEPLOYER


def test_deleting_a_deployed_version_undeploys_it(api: Running) -> None:
    client = api.client()
    fn = create(client, helm_function("delete-deployed"))
    deploy(api, fn)
    wait_for_status(client, fn, "ACTIVE")
    assert client.delete(version_path(fn)).status_code == 204
    assert fn["versionId"] in api.deployer.undeploy_calls
    assert_problem(client.get(version_path(fn)), 404)
    assert_problem(client.get(deployment_path(fn)), 404)


def test_deleting_a_hanging_deployment_cancels_it(server: Callable[..., Running]) -> None:
    running = server(deployer=ScriptedDeployer(HOLD))
    client = running.client()
    fn = create(client, helm_function("hanging"))
    deploy(running, fn)
    wait_for_status(client, fn, "DEPLOYING")
    r = client.delete(deployment_path(fn))
    assert r.status_code == 200
    assert r.json()["function"]["status"] == "INACTIVE"


def test_a_failed_undeploy_keeps_the_deployment_for_a_retry(server: Callable[..., Running]) -> None:
    deployer = ScriptedDeployer()
    running = server(deployer=deployer)
    client = running.client()
    fn = create(client, helm_function("sticky"))
    deploy(running, fn)
    wait_for_status(client, fn, "ACTIVE")
    deployer.fail_undeploy = True
    assert_problem(client.delete(deployment_path(fn)), 502, "namespace stuck terminating")
    dep = client.get(deployment_path(fn)).json()["deployment"]
    assert dep["functionStatus"] == "ERROR"
    assert "namespace stuck terminating" in dep["healthInfo"][0]["error"]
    deployer.fail_undeploy = False
    assert client.delete(deployment_path(fn)).json()["function"]["status"] == "INACTIVE"
