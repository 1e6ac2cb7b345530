"""`make test-kind`: the kind path end to end on this machine, real nodes and real containers.

Brings the kind environment up (`env up --cluster kind`: dockerd if none answers, a kind cluster of
our node image, the registry container, the mini-service image, the reference server on the
port-forward data plane), runs a representative slice of the suites on real pods, checks that a pod
without the pull secret really cannot pull, takes everything down and checks that nothing is left:
no container, no network, no process, no state.

Slow (minutes) and it needs root, Docker's packages and the Go toolchain (tools/kind-prereqs.sh), so
it runs only when NVCF_KIND_E2E=1 (`make test-kind`); `make test` skips it. Phase times go to
$NVCF_KIND_E2E_TIMINGS (default .run/kind-e2e-timings.json) for the benchmarks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.env import process

ROOT = Path(__file__).resolve().parents[2]
NVCF = [sys.executable, "-m", "conformance.cli"]
CLUSTER = "nvcf-test-kind"
# A deploy, a refused chart, pull secrets, a hook, gRPC and multi-node placement.
RULES = ("LIFECYCLE-DEPLOY", "KIND-FORBIDDEN", "PULL-SECRETS-PRIVATE-IMAGE", "PULL-SECRETS-CHART-KEPT",
         "HOOKS-NOT-RUN", "GRPC-INVOCATION", "MULTINODE-PLACEMENT")
CASES = ("minimal-http", "kind-forbidden-daemonset", "pull-secrets-chart-provided", "hook-pre-install", "grpc",
         "multinode")

pytestmark = pytest.mark.skipif(os.environ.get("NVCF_KIND_E2E") != "1",
                                reason="the kind end-to-end run is `make test-kind` (NVCF_KIND_E2E=1): slow, root")


def run(argv: list[str], env: dict[str, str], timeout: float, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        pytest.fail(f"{' '.join(argv[:6])} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def docker(env: dict[str, str], *args: str) -> list[str]:
    done = subprocess.run(["docker", *args], env=env, capture_output=True, text=True, timeout=60, check=False)
    return done.stdout.split() if done.returncode == 0 else []


def engine_answers(env: dict[str, str]) -> bool:
    return subprocess.run(["docker", "version"], env=env, capture_output=True, timeout=30, check=False).returncode == 0


def test_kind_slice_end_to_end(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the kind path starts dockerd and builds images with debootstrap: it needs root")
    env = {**os.environ, "NVCF_RUN_DIR": str(tmp_path / "run")}
    env.pop("NVCF_KIND_E2E", None)
    (tmp_path / "env.yaml").write_text(yaml.safe_dump({"clusterName": CLUSTER}))
    before_engine = engine_answers(env)
    before_networks = set(docker(env, "network", "ls", "--format", "{{.Name}}")) if before_engine else set()
    timings: dict[str, float] = {}
    state: dict[str, Any] = {}
    try:
        t0 = time.monotonic()
        run([*NVCF, "env", "up", "--cluster", "kind", "--config", str(tmp_path / "env.yaml")], env, 3600)
        timings["env_up_s"] = round(time.monotonic() - t0, 1)
        state = json.loads(run([*NVCF, "env", "status", "--json"], env, 60).stdout)
        assert state["cluster"]["type"] == "kind" and state["running"]
        kubectl = [str(ROOT / "bin" / "kubectl"), "--kubeconfig", state["kubeconfig"]]
        docker_env = {**env, "DOCKER_HOST": state["docker"]["host"]}

        nodes = json.loads(run([*kubectl, "get", "nodes", "-o", "json"], env, 60).stdout)["items"]
        assert len(nodes) == 3
        assert {n["status"]["nodeInfo"]["containerRuntimeVersion"] for n in nodes} == {"containerd://2.4.2"}
        gpus = sorted(n["status"]["allocatable"].get("nvidia.com/gpu", "0") for n in nodes)
        assert gpus == ["0", "8", "8"]

        t0 = time.monotonic()
        push = [*NVCF, "charts", "push", "--run-id", "kinde2e", "--no-twins", "--json"]
        for case in CASES:
            push += ["--case", case]
        manifest = tmp_path / "report" / "charts.json"
        manifest.parent.mkdir()
        manifest.write_text(run(push, env, 900).stdout)
        timings["charts_push_s"] = round(time.monotonic() - t0, 1)

        t0 = time.monotonic()
        argv = [*NVCF, "run", "--run-id", "kinde2e", "--report-dir", str(tmp_path / "report"), "-n", "2",
                "--profile", "grpc", "--profile", "multinode"]
        for rule in RULES:
            argv += ["--rule", rule]
        for case in CASES:
            argv += ["--case", case]
        suites = run(argv, env, 3600, check=False)
        timings["suites_s"] = round(time.monotonic() - t0, 1)
        assert suites.returncode == 0, suites.stdout[-4000:] + suites.stderr[-2000:]

        # The registry really wants the credentials: a pod without the pull secret cannot pull.
        image = state["images"]["mini-service"]["ref"]
        worker = next(n["metadata"]["name"] for n in nodes if n["status"]["allocatable"].get("nvidia.com/gpu"))
        run([*kubectl, "run", "no-pull-secret", f"--image={image}", "--image-pull-policy=Always", "--restart=Never",
             f"--overrides={json.dumps({'spec': {'nodeName': worker}})}"], env, 60)
        reason = ""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and reason not in ("ErrImagePull", "ImagePullBackOff"):
            pod = json.loads(run([*kubectl, "get", "pod", "no-pull-secret", "-o", "json"], env, 60).stdout)
            waiting = [s.get("state", {}).get("waiting") or {} for s in pod["status"].get("containerStatuses", [])]
            reason = next((w.get("reason", "") for w in waiting), "")
            time.sleep(2)
        assert reason in ("ErrImagePull", "ImagePullBackOff"), f"a pod without the pull secret reached {reason!r}"
        events = run([*kubectl, "get", "events", "--field-selector", "involvedObject.name=no-pull-secret", "-o",
                      "jsonpath={.items[*].message}"], env, 60).stdout
        assert "authorization failed" in events or "401" in events, events
        pulled = [line for line in docker(docker_env, "exec", worker, "ctr", "-n", "k8s.io", "images", "ls", "-q")
                  if "mini-service@sha256:" in line]
        assert pulled, "no worker holds the pulled mini-service image by digest"
    finally:
        t0 = time.monotonic()
        down = run([*NVCF, "env", "down"], env, 900, check=False)
        timings["env_down_s"] = round(time.monotonic() - t0, 1)
        out = Path(os.environ.get("NVCF_KIND_E2E_TIMINGS") or ROOT / ".run" / "kind-e2e-timings.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(timings, indent=2) + "\n")
    assert down.returncode == 0, down.stderr[-2000:]

    # Nothing left: state, containers, the cluster's network (unless it was there before), dockerd.
    assert not (tmp_path / "run" / "env" / "state.json").exists()
    host = (state.get("docker") or {}).get("host")
    if before_engine:
        docker_env = {**env, "DOCKER_HOST": host} if host else env
        assert docker(docker_env, "ps", "-aq", "--filter", f"label=io.x-k8s.kind.cluster={CLUSTER}") == []
        assert docker(docker_env, "ps", "-aq", "--filter", f"name={CLUSTER}-registry") == []
        assert set(docker(docker_env, "network", "ls", "--format", "{{.Name}}")) <= before_networks
    else:
        assert not engine_answers({**env, "DOCKER_HOST": host} if host else env), "the dockerd it started still runs"
        # A stopped dockerd may linger as a zombie until init reaps it: is_ours() counts that as gone.
        left = [p["name"] for p in state.get("processes", []) if process.is_ours(process.ProcessRecord.from_dict(p))]
        assert not left, f"processes left: {left}"
