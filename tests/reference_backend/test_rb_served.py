"""The back half as the embedded environment runs it: `reference serve --kubeconfig ... --grpc-port ...`.

Everything goes through the server's public API, as the harness would drive it: create, deploy, wait
for ACTIVE, invoke over HTTP and gRPC, remove.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import httpx
import pytest
from rb_support import Chart

pytestmark = pytest.mark.env


def _wait_status(api: httpx.Client, fid: str, vid: str, wanted: set[str], timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        fn = api.get(f"/v2/nvcf/functions/{fid}/versions/{vid}").json()["function"]
        if fn["status"] in wanted or time.monotonic() > deadline:
            return dict(fn)
        time.sleep(0.1)


def _create(api: httpx.Client, chart: Chart, **extra: Any) -> tuple[str, str]:
    facts = chart.case.function
    reply = api.post("/v2/nvcf/functions", json={
        "name": f"rb-served-{chart.case.id}-{uuid.uuid4().hex[:6]}", "inferenceUrl": facts.inference_url,
        "inferencePort": facts.inference_port, "helmChart": chart.url,
        "helmChartServiceName": facts.helm_chart_service_name, **extra,
    })
    assert reply.status_code == 200, reply.text
    fn = reply.json()["function"]
    return fn["id"], fn["versionId"]


def _deploy(api: httpx.Client, fid: str, vid: str, instance_type: str = "DGXC.GPU.L40S_1x",
            configuration: dict[str, Any] | None = None) -> httpx.Response:
    gpu = instance_type.split(".GPU.", 1)[1].rsplit("_", 1)[0]
    spec: dict[str, Any] = {"gpu": gpu, "instanceType": instance_type, "minInstances": 1, "maxInstances": 1}
    if configuration is not None:
        spec["configuration"] = configuration
    return api.post(f"/v2/nvcf/deployments/functions/{fid}/versions/{vid}", json={"deploymentSpecifications": [spec]})


def test_http_and_grpc_functions_through_the_served_api(embedded_env: dict[str, Any], charts: dict[str, Chart]
                                                        ) -> None:
    nvcf = embedded_env["nvcf"]
    admin = {"Authorization": f"Bearer {nvcf['token']}"}
    with httpx.Client(base_url=nvcf["url"], headers=admin, timeout=30) as api:
        fid, vid = _create(api, charts["minimal-http"])
        started = time.monotonic()
        assert _deploy(api, fid, vid).status_code == 200
        fn = _wait_status(api, fid, vid, {"ACTIVE", "ERROR"})
        print(f"create deployment → ACTIVE through the API: {time.monotonic() - started:.2f} s")
        assert fn["status"] == "ACTIVE", fn
        assert fn["activeInstances"][0]["instanceStatus"] == "RUNNING"

        answer = api.post(f"/v2/nvcf/pexec/functions/{fid}", json={"inputs": [
            {"name": "x", "shape": [1], "datatype": "INT32", "data": [5]}]},
            headers={"Authorization": f"Bearer {nvcf['api_key']}"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["outputs"][0]["data"] == [5]
        assert answer.headers["NVCF-REQID"]

        # A chart that breaks a restriction is refused already at function creation, naming what is wrong.
        facts = charts["kind-forbidden-daemonset"].case.function
        refused = api.post("/v2/nvcf/functions", json={
            "name": "rb-served-daemonset", "inferenceUrl": facts.inference_url, "inferencePort": facts.inference_port,
            "helmChart": charts["kind-forbidden-daemonset"].url,
            "helmChartServiceName": facts.helm_chart_service_name})
        assert refused.status_code == 400 and "DaemonSet" in refused.json()["detail"], refused.text

        gfid, gvid = _create(api, charts["grpc"])
        assert _deploy(api, gfid, gvid).status_code == 200
        assert _wait_status(api, gfid, gvid, {"ACTIVE", "ERROR"})["status"] == "ACTIVE"
        _grpc_calls(nvcf, gfid)

        # Removal waits for the namespace to go (~5 s each): both at once.
        with ThreadPoolExecutor(2) as pool:
            removals = list(pool.map(lambda ids: api.delete(f"/v2/nvcf/deployments/functions/{ids[0]}/versions/"
                                                            f"{ids[1]}"), ((fid, vid), (gfid, gvid))))
        for removed in removals:
            assert removed.status_code == 200, removed.text
            assert removed.json()["function"]["status"] == "INACTIVE"


def _grpc_calls(nvcf: dict[str, Any], function_id: str) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from mini_service import inference_v2_pb2 as pb
    from mini_service import inference_v2_pb2_grpc as pb_grpc

    with grpc.insecure_channel(nvcf["grpc"]) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        request = pb.ModelInferRequest(model_name="echo", id="g-1")
        key = ("authorization", f"Bearer {nvcf['api_key']}")
        reply = stub.ModelInfer(request, metadata=(key, ("function-id", function_id)), timeout=10)
        assert reply.id == "g-1"
        assert reply.parameters["metadata.function-id"].string_param == function_id
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), metadata=(key, ("function-id", function_id)), timeout=10)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as anonymous:
            stub.ModelInfer(request, metadata=(("function-id", function_id),), timeout=10)
        assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
