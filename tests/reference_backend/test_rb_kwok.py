"""The back half against a real KWOK cluster and registry: deploy sample charts, reach them, remove them."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
from rb_support import Chart, Progress, alive, deployment_for, function_for

from reference import rules
from reference.backend import Backend, GrpcProxy
from reference.backend.cluster import namespaces
from reference.backend.cluster.readiness import is_ready_pod
from reference.charts.objects import POD_SPEC_PATHS, dig
from reference.ports import DataPlaneError, ForwardRequest, FunctionVersion

Leave = Callable[[Backend, FunctionVersion], Awaitable[None]]

pytestmark = pytest.mark.env

PULL_SECRET = "nvcf-reference-pull-secret"
READY_DELAY = 1.5
# The probe reports ready only this long after it started: ACTIVE must wait for it.
DELAYED = {"miniService": {"env": [{"name": "MINI_SERVICE_READY_DELAY", "value": str(READY_DELAY)}]}}


def _request(method: str, path: str, body: bytes = b"", **headers: str) -> ForwardRequest:
    return ForwardRequest(method, path, "", tuple(headers.items()), body)


async def _list(backend: Backend, kind: str, namespace: str) -> list[dict[str, Any]]:
    kube = backend.deployer.kube
    api_version = {"Deployment": "apps/v1", "ReplicaSet": "apps/v1", "StatefulSet": "apps/v1", "Job": "batch/v1",
                   "CronJob": "batch/v1"}.get(kind, "v1")
    resource = await kube.run(kube.resource, api_version, kind)
    found = await kube.run(kube.dynamic.get, resource, namespace=namespace)
    return [item.to_dict() for item in found.items]


def test_minimal_http_goes_active_only_once_the_probe_answers(
    make_backend: Callable[..., Backend], charts: dict[str, Chart]
) -> None:
    backend = make_backend()
    chart = charts["minimal-http"]
    function = function_for(chart)
    deployment = deployment_for(function, "DGXC.GPU.L40S_1x", configuration=DELAYED)
    ns = backend.deployer.namespace_for(function)

    async def scenario() -> None:
        assert await backend.deployer.validate_at_creation(function) == []
        assert await backend.deployer.validate_deployment(function, deployment) == []
        progress = Progress(backend.deployer, function, deployment)
        active = await progress.settle()
        assert active.status == "ACTIVE", progress.updates
        # Not before the probe reported ready: the readiness delay had to pass first.
        assert progress.time_of("ACTIVE") >= READY_DELAY
        health = await backend.data_plane.forward(function, _request("GET", "/v2/health/ready"))
        assert health.status == 200
        (instance,) = active.instances or ()
        assert instance.instance_status == "RUNNING" and (instance.location or "").startswith("l40s-")

        # Invocation reaches the probe, with what NVCF tells a function about the call.
        probe = await backend.data_plane.forward(function, _request(
            "POST", "/probe/x", b"hi", **{"NVCF-REQID": "req-1", "NVCF-FUNCTION-ID": function.function_id,
                                          "X-Caller": "yes"}))
        seen = json.loads(probe.body)
        assert probe.status == 200
        assert seen["headers"]["nvcf-reqid"] == "req-1" and seen["headers"]["x-caller"] == "yes"
        assert seen["headers"]["nvcf-function-id"] == function.function_id
        assert "user-agent" not in seen["headers"]  # nothing added on the way
        assert seen["body_bytes"] == 2
        assert seen["pod"]["namespace"] == ns and seen["pod"]["name"] == instance.instance_id
        assert seen["pod"]["node"] == instance.location
        # The pod spec's env, with the deployment's configuration applied, is the process's env.
        assert seen["env"]["MINI_SERVICE_READY_DELAY"] == str(READY_DELAY)
        assert seen["env"]["MINI_SERVICE_HTTP_PORT"] == "8000"
        infer = await backend.data_plane.forward(function, _request(
            "POST", function.inference_url, json.dumps({"inputs": [
                {"name": "x", "shape": [1], "datatype": "INT32", "data": [7]}]}).encode(),
            **{"Content-Type": "application/json"}))
        assert infer.status == 200 and json.loads(infer.body)["outputs"][0]["data"] == [7]

        # Placement: pinned to the instance type's GPU.
        pods = await backend.deployer.kube.pods(ns)
        assert len(pods) == 1
        assert PULL_SECRET in [s["name"] for s in pods[0]["spec"]["imagePullSecrets"]]
        terms = dig(pods[0], "spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution",
                    "nodeSelectorTerms")
        assert {"key": "nvidia.com/gpu.product", "operator": "In", "values": ["NVIDIA-L40S"]} in \
            terms[0]["matchExpressions"]

        pids = backend.data_plane.running_pids()
        assert len(pids) == 1 and alive(pids[0])
        await progress.stop()
        started = time.monotonic()
        await backend.deployer.undeploy(function, deployment)
        print(f"undeploy took {time.monotonic() - started:.1f} s")
        # Nothing runs any more; the namespace itself may still be terminating (the controller's pace).
        left = await backend.deployer.kube.namespace(ns)
        assert left is None or dig(left, "metadata", "deletionTimestamp"), left
        await namespaces.wait_deleted(backend.deployer.kube, ns, timeout=60)
        assert not alive(pids[0]) and backend.data_plane.running_pids() == []
        with pytest.raises(DataPlaneError) as refused:
            await backend.data_plane.forward(function, _request("GET", "/probe"))
        assert refused.value.status == 503
        # Idempotent: a second undeploy finds nothing to do.
        await backend.deployer.undeploy(function, deployment)

    asyncio.run(scenario())


def test_every_pod_spec_gets_the_pull_secret(
    make_backend: Callable[..., Backend], charts: dict[str, Chart], leave_behind: Leave, embedded_env: dict[str, Any]
) -> None:
    backend = make_backend()
    function = function_for(charts["pull-secrets-all-pod-specs"])
    deployment = deployment_for(function)
    ns = backend.deployer.namespace_for(function)

    async def scenario() -> None:
        progress = Progress(backend.deployer, function, deployment)
        assert (await progress.settle()).status == "ACTIVE", progress.updates
        await progress.stop()
        secret = await backend.deployer.kube.secret(ns, PULL_SECRET)
        assert secret is not None and secret["type"] == "kubernetes.io/dockerconfigjson"
        auths = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))["auths"]
        registry = embedded_env["registry"]
        assert auths[registry["address"]]["username"] == registry["username"]
        for kind in ("Deployment", "ReplicaSet", "StatefulSet", "Job", "CronJob", "Pod"):
            objects = await _list(backend, kind, ns)
            assert objects, kind
            for obj in objects:
                spec = dig(obj, *POD_SPEC_PATHS[kind])
                names = [s["name"] for s in spec.get("imagePullSecrets") or []]
                assert PULL_SECRET in names, (kind, obj["metadata"]["name"], names)
        # And on the pods that run (controllers copy their templates; KWOK reports them running).
        pods = await backend.deployer.kube.pods(ns)
        assert len(pods) >= 5
        for pod in pods:
            assert PULL_SECRET in [s["name"] for s in pod["spec"].get("imagePullSecrets") or []]
        await leave_behind(backend, function)

    asyncio.run(scenario())


def test_a_chart_with_a_claim_deploys(
    make_backend: Callable[..., Backend], charts: dict[str, Chart], leave_behind: Leave
) -> None:
    backend = make_backend()
    function = function_for(charts["volume-allowed-persistentvolumeclaim"])
    deployment = deployment_for(function)

    async def scenario() -> None:
        progress = Progress(backend.deployer, function, deployment)
        assert (await progress.settle()).status == "ACTIVE", progress.updates
        await progress.stop()
        (claim,) = await backend.deployer.kube.claims(backend.deployer.namespace_for(function))
        assert claim["status"]["phase"] == "Bound"
        await leave_behind(backend, function)

    asyncio.run(scenario())


def test_multinode_lands_on_both_b200_nodes(
    make_backend: Callable[..., Backend], charts: dict[str, Chart], leave_behind: Leave
) -> None:
    backend = make_backend()
    chart = charts["multinode"]
    function = function_for(chart)
    deployment = deployment_for(function, chart.case.function.instance_type or "ON-PREM.GPU.B200_8x.x2")
    ns = backend.deployer.namespace_for(function)

    async def scenario() -> None:
        progress = Progress(backend.deployer, function, deployment)
        active = await progress.settle()
        assert active.status == "ACTIVE", progress.updates
        await progress.stop()
        pods = await backend.deployer.kube.pods(ns)
        assert sorted(p["spec"]["nodeName"] for p in pods) == ["b200-0", "b200-1"]
        assert all(is_ready_pod(p) for p in pods)
        # The Service routes to the head pod only: one instance, one probe.
        assert [i.location for i in active.instances or ()] in (["b200-0"], ["b200-1"])
        assert len(backend.data_plane.running_pids()) == 1
        await leave_behind(backend, function)

    asyncio.run(scenario())


def test_a_single_node_type_keeps_the_gpu_pods_on_one_node(
    make_backend: Callable[..., Backend], charts: dict[str, Chart], leave_behind: Leave
) -> None:
    backend = make_backend(schedule_timeout=1.0)
    chart = charts["multinode"]
    two = function_for(chart)
    one = function_for(chart)

    async def scenario() -> None:
        # Two 8-GPU pods cannot share one 8-GPU node: with `_8x` (one node) the second one cannot be placed.
        spread = Progress(backend.deployer, two, deployment_for(two, "ON-PREM.GPU.B200_8x"))
        error = await spread.settle()
        assert error.status == "ERROR" and "pod affinity" in (error.reason or ""), spread.updates
        await leave_behind(backend, two)
        single = Progress(backend.deployer, one, deployment_for(
            one, "ON-PREM.GPU.B200_8x", configuration={"multinode": {"nodes": 1}}))
        assert (await single.settle()).status == "ACTIVE", single.updates
        await single.stop()
        await leave_behind(backend, one)

    asyncio.run(scenario())


def test_pods_that_cannot_be_placed_fail_the_deployment(
    make_backend: Callable[..., Backend], charts: dict[str, Chart], leave_behind: Leave
) -> None:
    backend = make_backend(schedule_timeout=1.0)
    function = function_for(charts["minimal-http"])
    # No node carries an H100: the scheduler can place the pod nowhere.
    deployment = deployment_for(function, "ON-PREM.GPU.H100_1x")

    async def scenario() -> None:
        progress = Progress(backend.deployer, function, deployment)
        error = await progress.settle()
        assert error.status == "ERROR", progress.updates
        reason = error.reason or ""
        assert "cannot be placed" in reason and "ON-PREM.GPU.H100_1x" in reason and "NVIDIA-H100" in reason
        assert "node affinity" in reason  # the scheduler's own words
        assert "ACTIVE" not in progress.statuses()
        assert backend.data_plane.running_pids() == []
        await leave_behind(backend, function)

    asyncio.run(scenario())


def test_an_image_other_than_the_probe_cannot_serve(
    make_backend: Callable[..., Backend], charts: dict[str, Chart], leave_behind: Leave
) -> None:
    backend = make_backend()
    function = function_for(charts["foreign-image"])
    deployment = deployment_for(function)

    async def scenario() -> None:
        progress = Progress(backend.deployer, function, deployment)
        error = await progress.settle()
        assert error.status == "ERROR", progress.updates
        assert ("image docker.io/library/nginx:1.27 cannot run on the KWOK data plane (only the mini-service probe "
                "can)") in (error.reason or "")
        assert backend.data_plane.running_pids() == []
        await leave_behind(backend, function)

    asyncio.run(scenario())


def test_active_when_ready_mutant_reports_active_before_the_probe_is_ready(
    make_backend: Callable[..., Backend], charts: dict[str, Chart], leave_behind: Leave
) -> None:
    backend = make_backend(violate=frozenset({rules.MINI_ACTIVE_WHEN_READY}))
    function = function_for(charts["minimal-http"])
    deployment = deployment_for(function, configuration=DELAYED)

    async def scenario() -> None:
        progress = Progress(backend.deployer, function, deployment)
        first = await progress.settle()
        assert first.status == "ACTIVE"
        assert progress.time_of("ACTIVE") < READY_DELAY
        # At that moment nothing answers the function's health check yet.
        try:
            answer = await backend.data_plane.forward(function, _request("GET", "/v2/health/ready"))
        except DataPlaneError as exc:
            assert exc.status == 503
        else:
            assert answer.status == 503
        await progress.stop()
        await leave_behind(backend, function)

    asyncio.run(scenario())


def test_losing_the_pods_degrades_and_getting_them_back_recovers(
    make_backend: Callable[..., Backend], charts: dict[str, Chart], leave_behind: Leave
) -> None:
    backend = make_backend(watch_interval=0.25)
    chart = charts["minimal-http"]
    function = function_for(chart)
    deployment = deployment_for(function)
    ns = backend.deployer.namespace_for(function)
    kube = backend.deployer.kube

    async def scale(replicas: int) -> None:
        resource = await kube.run(kube.resource, "apps/v1", "Deployment")
        await kube.run(kube.dynamic.patch, resource, name="mini-service", namespace=ns,
                       body={"spec": {"replicas": replicas}}, content_type="application/merge-patch+json")

    async def scenario() -> None:
        progress = Progress(backend.deployer, function, deployment)
        assert (await progress.settle()).status == "ACTIVE", progress.updates
        (first_pid,) = backend.data_plane.running_pids()
        seen = len(progress.updates)
        await scale(0)
        degraded = await progress.until("DEGRADED", after=seen)
        assert "no instance of the mini-service is serving" in (degraded.reason or "")
        assert not alive(first_pid)  # the pod is gone, so is its stand-in
        seen = len(progress.updates)
        await scale(1)
        await progress.until("ACTIVE", after=seen)
        assert len(backend.data_plane.running_pids()) == 1
        await progress.stop()
        await leave_behind(backend, function)

    asyncio.run(scenario())


def test_a_restarted_server_reattaches_without_reapplying(
    make_backend: Callable[..., Backend], charts: dict[str, Chart], leave_behind: Leave
) -> None:
    first = make_backend()
    function = function_for(charts["minimal-http"])
    deployment = deployment_for(function)
    ns = first.deployer.namespace_for(function)

    async def scenario() -> None:
        progress = Progress(first.deployer, function, deployment)
        assert (await progress.settle()).status == "ACTIVE"
        await progress.stop()
        (old_pid,) = first.data_plane.running_pids()
        before = await _list(first, "Deployment", ns)
        await first.deployer.shutdown()  # the server stops: local processes go, the cluster stays
        assert not alive(old_pid)

        second = make_backend()
        resumed = Progress(second.deployer, function, deployment, resumed=True)
        assert (await resumed.settle()).status == "ACTIVE", resumed.updates
        after = await _list(second, "Deployment", ns)
        assert after[0]["metadata"]["uid"] == before[0]["metadata"]["uid"]
        assert after[0]["metadata"]["generation"] == before[0]["metadata"]["generation"]
        answer = await second.data_plane.forward(function, _request("GET", "/v2/health/ready"))
        assert answer.status == 200
        await resumed.stop()
        await leave_behind(second, function)

    asyncio.run(scenario())


def test_grpc_model_infer_through_the_proxy(
    make_backend: Callable[..., Backend], charts: dict[str, Chart], leave_behind: Leave
) -> None:
    from mini_service import inference_v2_pb2 as pb
    from mini_service import inference_v2_pb2_grpc as pb_grpc

    backend = make_backend()
    function = function_for(charts["grpc"])
    assert function.is_grpc
    deployment = deployment_for(function)

    async def scenario() -> None:
        progress = Progress(backend.deployer, function, deployment)
        assert (await progress.settle()).status == "ACTIVE", progress.updates
        proxy = GrpcProxy(backend.data_plane)
        port = await proxy.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = pb_grpc.GRPCInferenceServiceStub(channel)
                request = pb.ModelInferRequest(model_name="echo", id="call-1", raw_input_contents=[b"\x01\x02"])
                request.inputs.add(name="x", datatype="BYTES", shape=[1])
                reply = await stub.ModelInfer(request, metadata=(
                    ("function-id", function.function_id), ("function-version-id", function.version_id),
                    ("x-trace", "t-1"), ("authorization", "Bearer do-not-forward")), timeout=10)
                assert reply.id == "call-1" and reply.raw_output_contents == [b"\x01\x02"]
                params = {k: v.string_param for k, v in reply.parameters.items()}
                assert params["metadata.function-id"] == function.function_id
                assert params["metadata.x-trace"] == "t-1"
                assert params["metadata.nvcf-function-id"] == function.function_id
                assert params["metadata.nvcf-reqid"]
                assert not any("authorization" in k for k in params)
                with pytest.raises(grpc.aio.AioRpcError) as missing:
                    await stub.ModelInfer(request, metadata=(("function-id", "no-such-function"),), timeout=10)
                assert missing.value.code() == grpc.StatusCode.NOT_FOUND
                # Errors of the function itself come back as they are.
                with pytest.raises(grpc.aio.AioRpcError) as unknown:
                    await stub.ModelInfer(pb.ModelInferRequest(model_name="nope"),
                                          metadata=(("function-id", function.function_id),), timeout=10)
                assert unknown.value.code() == grpc.StatusCode.NOT_FOUND and "nope" in (unknown.value.details() or "")
        finally:
            await proxy.stop()
        await progress.stop()
        await leave_behind(backend, function)

    asyncio.run(scenario())


def test_restrictions_refuse_the_deployment_and_optionally_the_function(
    make_backend: Callable[..., Backend], charts: dict[str, Chart]
) -> None:
    function = function_for(charts["kind-forbidden-daemonset"])
    deployment = deployment_for(function)

    async def scenario() -> None:
        lenient = make_backend(validate_at_creation=False)
        assert await lenient.deployer.validate_at_creation(function) == []
        issues = await lenient.deployer.validate_deployment(function, deployment)
        assert issues and all("KIND-FORBIDDEN" in str(i) and "DaemonSet/" in str(i) for i in issues)
        strict = make_backend()  # the default
        at_creation = await strict.deployer.validate_at_creation(function)
        assert at_creation and "DaemonSet" in str(at_creation[0]) and at_creation[0].field == "helmChart"
        assert await strict.deployer.validate_at_creation(function_for(charts["minimal-http"])) == []
        mutant = make_backend(violate=frozenset({"RESTRICTIONS-CHECKED-AT-CREATION"}))
        assert await mutant.deployer.validate_at_creation(function) == []
        bad_url = function_for(charts["minimal-http"], helm_chart="oci://127.0.0.1:1/rb/charts/minimal_http-1.0.0.tgz")
        (url_issue,) = await lenient.deployer.validate_at_creation(bad_url)
        assert url_issue.field == "helmChart"
        (shape,) = await lenient.deployer.validate_deployment(
            function_for(charts["minimal-http"]), deployment_for(function, "DGXC.GPU.L40S_1x.x0"))
        assert shape.field == "deploymentSpecifications[0].instanceType"

        # Multi-node instances take whole nodes (B200 nodes have 8 GPUs), two or more of them.
        multinode = function_for(charts["multinode"])
        (partial,) = await lenient.deployer.validate_deployment(
            multinode, deployment_for(multinode, "ON-PREM.GPU.B200_4x.x2"))
        assert "ON-PREM.GPU.B200_4x.x2" in partial.detail and "_8x.x2" in partial.detail
        (single,) = await lenient.deployer.validate_deployment(
            multinode, deployment_for(multinode, "ON-PREM.GPU.B200_8x.x1"))
        assert "ON-PREM.GPU.B200_8x.x1" in single.detail and "at least two nodes" in single.detail
        assert await lenient.deployer.validate_deployment(
            multinode, deployment_for(multinode, "ON-PREM.GPU.B200_8x.x2")) == []
        lax = make_backend(violate=frozenset({"MULTINODE-FULL-NODE-ONLY"}))
        assert await lax.deployer.validate_deployment(
            multinode, deployment_for(multinode, "ON-PREM.GPU.B200_4x.x2")) == []

    asyncio.run(scenario())
