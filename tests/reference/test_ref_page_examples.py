"""Requests written as the docs page writes them are taken; NVIDIA's API (page_examples off) refuses them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ref_support import ScriptedDeployer, assert_problem, create, deployment_path, gpu_spec, helm_function

from reference.config import Behaviour


def test_the_grpc_notes_key_is_read_as_inference_url(server: Callable[..., Any]) -> None:
    client = server(deployer=ScriptedDeployer()).client()
    fn = create(client, helm_function("grpc-note", inferenceUrl=None, inferenceURL="/gRPC", inferencePort=8001))
    assert fn["inferenceUrl"] == "/gRPC" and fn["health"]["protocol"] == "gRPC"
    both = helm_function("grpc-both", inferenceUrl="/echo", inferenceURL="/gRPC")
    assert_problem(client.post("/v2/nvcf/functions", json=both), 400, "inferenceURL")


def test_a_deployment_without_instance_type_gets_one_gpu_of_its_kind(server: Callable[..., Any]) -> None:
    client = server(deployer=ScriptedDeployer()).client()
    fn = create(client, helm_function("page-deploy"))
    spec = {"gpu": "L40S", "backend": "nvcf-default", "maxInstances": 2, "minInstances": 1,
            "configuration": {"key_one": "<value>", "key_two": {"key_two_subkey_one": "<value>"}}}
    r = client.post(deployment_path(fn), json={"deploymentSpecifications": [spec]})
    assert r.status_code == 200, r.text
    assert r.json()["deployment"]["deploymentSpecifications"][0]["instanceType"] == "ON-PREM.GPU.L40S_1x"


def test_nvidias_api_refuses_both(server: Callable[..., Any]) -> None:
    client = server(deployer=ScriptedDeployer(), behaviour=Behaviour(page_examples=False)).client()
    assert_problem(client.post("/v2/nvcf/functions", json=helm_function("note", inferenceUrl=None,
                                                                         inferenceURL="/gRPC")), 400, "inferenceUrl")
    fn = create(client, helm_function("no-type"))
    r = client.post(deployment_path(fn), json={"deploymentSpecifications": [gpu_spec(instanceType=None)]})
    assert_problem(r, 400, "instanceType")


def test_the_mutants_refuse_what_the_page_writes(server: Callable[..., Any]) -> None:
    client = server(deployer=ScriptedDeployer(), violations=frozenset(
        {"DOC-EXAMPLE-CREATE-BODY", "DOC-EXAMPLE-GRPC-NOTE", "DOC-EXAMPLE-DEPLOY-BODY"})).client()
    relative = helm_function("relative", inferenceUrl="v2/models/model_name/versions/model_version/infer")
    assert_problem(client.post("/v2/nvcf/functions", json=relative), 400, "inferenceUrl")
    note = helm_function("note", inferenceUrl=None, inferenceURL="/gRPC")
    assert_problem(client.post("/v2/nvcf/functions", json=note), 400, "inferenceUrl")
    fn = create(client, helm_function("no-type"))
    r = client.post(deployment_path(fn), json={"deploymentSpecifications": [gpu_spec(instanceType=None)]})
    assert_problem(r, 400, "instanceType")
