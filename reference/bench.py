"""`make bench-reference`: what the reference adds on top of helm, and on top of the mini-service.

1. render+validate of the 300-object sample chart (the reference's `render_chart` + `validate`) against
   `helm template` alone on the same chart directory (goal: at most 1.5 times);
2. create-deployment → ACTIVE latency on the embedded KWOK environment (goal ≤ 5 s);
3. invocation round trip through the reference (pexec) against calling the function's probe directly.
Each figure is the median of a few repetitions.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from conformance.bench.common import report
from conformance.charts import cases as chart_cases
from conformance.charts.build import materialise
from conformance.paths import tool
from reference.charts.render import render_chart
from reference.charts.validate import validate


def _median(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _render_figures(figures: dict[str, Any]) -> None:
    case = chart_cases.load_cases(["objects-300"])[0]
    with tempfile.TemporaryDirectory() as tmp:
        chart_dir = materialise(case, "bench", Path(tmp) / "chart")
        helm = str(tool("helm"))

        def helm_only() -> None:
            subprocess.run([helm, "template", "mini-service", str(chart_dir), "--include-crds"], check=True,
                           capture_output=True)

        def reference() -> None:
            rendered = render_chart(chart_dir, release="mini-service", namespace="mini-service", values={},
                                    workdir=Path(tmp) / "work")
            facts = case.function
            found = validate(rendered, service_name=facts.helm_chart_service_name, inference_port=facts.inference_port)
            assert not found, found

        figures["helm_template_300_s"] = round(_median(helm_only, 5), 3)
        figures["render_validate_300_s"] = round(_median(reference, 5), 3)
        figures["render_validate_vs_helm"] = round(figures["render_validate_300_s"] / figures["helm_template_300_s"], 2)


def _deploy_figures(figures: dict[str, Any]) -> None:
    """Against the running embedded environment (`env up` first)."""
    from conformance.charts.naming import probe_image
    from conformance.charts.pipeline import build
    from conformance.charts.push import push
    from conformance.env import state
    from conformance.env.registry import RegistryEndpoint

    status = state.load_status()
    nvcf, reg = status["nvcf"], status["registry"]
    case = chart_cases.load_cases(["minimal-http"])[0]
    with tempfile.TemporaryDirectory() as tmp:
        built = build([case], "bench", Path(tmp), image=probe_image(reg["address"]))
        pushed = push(built.charts, RegistryEndpoint(reg["address"], reg["username"], reg["password"]), Path(tmp),
                      repository="nvcf-conformance/bench")[0]
    api = httpx.Client(base_url=nvcf["url"], headers={"Authorization": f"Bearer {nvcf['token']}"}, timeout=30)
    body = {"name": f"bench-{int(time.time())}", "inferenceUrl": "/v2/models/echo/infer", "inferencePort": 8000,
            "helmChart": pushed.helm_chart, "helmChartServiceName": case.function.helm_chart_service_name}
    function = api.post("/v2/nvcf/functions", json=body).raise_for_status().json()["function"]
    fid, vid = function["id"], function["versionId"]
    spec = {"gpu": "L40S", "instanceType": "ON-PREM.GPU.L40S_1x", "minInstances": 1, "maxInstances": 1}
    path = f"/v2/nvcf/deployments/functions/{fid}/versions/{vid}"
    try:
        start = time.perf_counter()
        api.post(path, json={"deploymentSpecifications": [spec]}).raise_for_status()
        while api.get(f"/v2/nvcf/functions/{fid}/versions/{vid}").json()["function"]["status"] != "ACTIVE":
            if time.perf_counter() - start > 60:
                raise RuntimeError("no ACTIVE within 60 s")
            time.sleep(0.05)
        figures["create_to_active_s"] = round(time.perf_counter() - start, 2)
        infer = {"inputs": [{"name": "x", "datatype": "BYTES", "shape": [1], "data": ["b"]}]}
        via = _median(lambda: api.post(f"/v2/nvcf/pexec/functions/{fid}", json=infer).raise_for_status(), 20)
        answer = api.post(f"/v2/nvcf/pexec/functions/{fid}", json=infer).json()
        figures["pexec_answer_ok"] = answer["outputs"][0]["data"] == ["b"]
        direct = _direct_probe_round_trip(infer)
        figures["pexec_round_trip_ms"] = round(via * 1000, 2)
        figures["direct_probe_round_trip_ms"] = round(direct * 1000, 2)
        figures["invocation_overhead_ms"] = round((via - direct) * 1000, 2)
    finally:
        api.delete(path)
        api.delete(f"/v2/nvcf/functions/{fid}/versions/{vid}")


def _direct_probe_round_trip(infer: dict[str, Any]) -> float:
    """The same request straight to a probe process of our own: the baseline the reference adds to."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "sample-charts" / "images" / "mini-service"))
    from mini_service import launch

    from conformance.env.local_registry import free_port

    port = free_port()
    argv = [*launch.command(), "--host", "127.0.0.1", "--http-port", str(port), "--grpc-port", "0"]
    proc = subprocess.Popen(argv, env=launch.environment({}), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # the ready line
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as direct:
            return _median(lambda: direct.post("/v2/models/echo/infer", json=infer).raise_for_status(), 20)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> int:
    import os

    from conformance.env import manager, state
    from conformance.env.config import EnvConfig

    figures: dict[str, Any] = {}
    _render_figures(figures)
    with tempfile.TemporaryDirectory() as run_dir:
        started = False
        if state.load() is None:  # no environment running: bring one up just for this benchmark
            os.environ["NVCF_RUN_DIR"] = run_dir
            manager.up(EnvConfig(cluster_name="nvcf-bench-ref"))
            started = True
        try:
            _deploy_figures(figures)
        finally:
            if started:
                manager.down()
    return report("reference", figures, {
        "render+validate <= 1.5x helm template": lambda f: f["render_validate_vs_helm"] <= 1.5,
        "create -> ACTIVE <= 5 s on KWOK": lambda f: f.get("create_to_active_s", 99) <= 5,
    })


if __name__ == "__main__":
    sys.exit(main())
