"""Pull secrets: every pod that runs gets one that authorises its images' registry; chart secrets stay."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.client import Nonconformant
from conformance.inspect import summary
from conformance.plugin import ChartRef, ChartSet, Expect, ItemRecord, params_of

# Which pods belong to which workload kind in pull-secrets-all-pod-specs (by their name prefix).
POD_PREFIX = {"Pod": "pull-pod", "Deployment": "mini-service", "ReplicaSet": "pull-replicaset",
              "StatefulSet": "pull-statefulset", "Job": "pull-job", "CronJob": "pull-cronjob"}


def image_registry(image: str) -> str:
    first = image.split("/", 1)[0]
    return first if "/" in image and ("." in first or ":" in first or first == "localhost") else "docker.io"


def _pods(cluster: Any, case: str, prefix: str | None) -> list[dict[str, Any]]:
    def probe() -> list[dict[str, Any]]:
        pods = cluster.pods(case)
        return [p for p in pods if prefix is None or p["metadata"]["name"].startswith(prefix)]

    return cluster.wait_for(f"pods of {case}", probe, bool)


def _check(cluster: Any, pods: list[dict[str, Any]]) -> list[str]:
    problems = []
    for pod in pods:
        images = [c["image"] for c in pod["spec"].get("containers", [])]
        problems += cluster.pull_secret_problems([pod], image_registry(images[0]))
    return problems


@pytest.mark.rule("PULL-SECRETS-ALL-PODS")
@pytest.mark.parametrize("param", params_of("PULL-SECRETS-ALL-PODS"))
def test_every_pod_gets_a_pull_secret(param: str, charts: ChartSet, deployed_function: Any, cluster: Any,
                                      expect: Expect, record: ItemRecord) -> None:
    deployed_function(charts["pull-secrets-all-pod-specs"])
    pods = _pods(cluster, "pull-secrets-all-pod-specs", POD_PREFIX[param])
    record.cluster_objects = pods
    if not pods:
        raise Nonconformant(f"no pod of the chart's {param} ran", "deployed-violating")
    problems = _check(cluster, pods)
    if problems:
        raise Nonconformant("; ".join(problems), "deployed-violating")
    expect.observed("deployed-conformant", f"{len(pods)} {param} pod(s), each with an authorising pull secret")


@pytest.mark.rule("PULL-SECRETS-CHART-KEPT")
@pytest.mark.case("pull-secrets-chart-provided")
def test_chart_pull_secrets_kept(chart: ChartRef, deployed_function: Any, cluster: Any, expect: Expect,
                                 record: ItemRecord) -> None:
    deployed_function(chart)
    pods = _pods(cluster, "pull-secrets-chart-provided", None)
    record.cluster_objects = pods
    missing = [summary(p) for p in pods
               if "chart-pull-secret" not in {s.get("name") for s in p["spec"].get("imagePullSecrets") or []}]
    if not pods or missing:
        raise Nonconformant(f"the chart's pull secret 'chart-pull-secret' is gone from: {missing or 'all pods'}",
                            "deployed-violating")
    problems = _check(cluster, pods)
    if problems:
        raise Nonconformant("; ".join(problems), "deployed-violating")
    expect.observed("deployed-conformant", "chart-pull-secret kept next to the implementation's secret")


@pytest.mark.rule("PULL-SECRETS-PRIVATE-IMAGE")
@pytest.mark.case("minimal-http")
def test_private_image_without_chart_credentials(chart: ChartRef, expect: Expect) -> None:
    expect.deployed(chart)
