"""`make bench-reference`: what the reference adds on top of helm, and on top of the mini-service.

The reference is driven as a process and over its API only, as the rest of the harness does.

1. render+validate of the 300-object sample chart (the reference's `render_chart` + `validate`) against
   `helm template` alone on the same chart directory (goal: at most 1.5 times);
2. create-deployment → ACTIVE latency on the embedded KWOK environment (goal ≤ 5 s);
3. invocation round trip through the reference (pexec) against calling the function's probe directly.
Each figure is the median of a few repetitions.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from conformance.bench.common import report
from conformance.charts import cases as chart_cases
from conformance.charts.build import materialise
from conformance.errors import ConformanceError
from conformance.paths import tool


def _median(fn: Callable[[], Any], repeat: int) -> float:
    """Seconds of one call, the median of `repeat` (timeit's clock, garbage collection paused meanwhile)."""
    return statistics.median(timeit.repeat(fn, number=1, repeat=repeat))


def _render_figures(figures: dict[str, Any]) -> None:
    """The reference's own micro-benchmark (`python -m reference.bench`), run as a process on the chart."""
    case = chart_cases.load_cases(["objects-300"])[0]
    with tempfile.TemporaryDirectory() as tmp:
        chart_dir = materialise(case, "bench", Path(tmp) / "chart")
        facts = case.function
        env = {**os.environ, "NVCF_HELM": str(tool("helm"))}
        done = subprocess.run(
            [sys.executable, "-m", "reference.bench", str(chart_dir), "--service-name",
             facts.helm_chart_service_name, "--inference-port", str(facts.inference_port)],
            capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise ConformanceError(f"python -m reference.bench failed: {done.stderr.strip()[-500:]}")
    figures.update(json.loads(done.stdout))


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
