"""The KWOK cluster: a real API server with Pod Security admission and fake GPU nodes that schedule."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config

pytestmark = pytest.mark.env


@pytest.fixture(scope="module")
def api_client(embedded_env: dict[str, Any]) -> client.ApiClient:
    return config.new_client_from_config(str(embedded_env["kubeconfig"]))


@pytest.fixture
def namespace(api_client: client.ApiClient) -> Iterator[str]:
    core = client.CoreV1Api(api_client)
    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    _wait(lambda: _has_default_sa(core, name), 30, "default service account")
    try:
        yield name
    finally:
        core.delete_namespace(name)


def _has_default_sa(core: client.CoreV1Api, ns: str) -> bool:
    return any(sa.metadata.name == "default" for sa in core.list_namespaced_service_account(ns).items)


def _wait(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _gpu_pod_template(app: str, gpus: int) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": app}},
        "spec": {
            "containers": [{
                "name": "main",
                "image": "nvcf-conformance/mini-service:0.1.0",
                "resources": {"limits": {"nvidia.com/gpu": str(gpus), "cpu": "1", "memory": "1Gi"}},
            }],
        },
    }


def _pods(core: client.CoreV1Api, ns: str, app: str) -> list[client.V1Pod]:
    return core.list_namespaced_pod(ns, label_selector=f"app={app}").items


def test_api_server_reports_pinned_version(api_client: client.ApiClient) -> None:
    info = client.VersionApi(api_client).get_code()
    assert info.git_version == "v1.36.1"
    host = api_client.configuration.host
    assert host.startswith("https://127.0.0.1:")


def test_fake_nodes_carry_gpu_capacity_and_gfd_labels(api_client: client.ApiClient) -> None:
    nodes = {n.metadata.name: n for n in client.CoreV1Api(api_client).list_node().items}
    assert {"cpu-0", "l40s-0", "l40s-1", "b200-0", "b200-1"} <= set(nodes)
    b200 = nodes["b200-0"]
    assert b200.status.allocatable["nvidia.com/gpu"] == "8"
    assert b200.metadata.labels["nvidia.com/gpu.product"] == "NVIDIA-B200"
    assert b200.metadata.labels["nvidia.com/gpu.count"] == "8"
    assert nodes["l40s-1"].status.allocatable["nvidia.com/gpu"] == "1"
    assert "nvidia.com/gpu" not in (nodes["cpu-0"].status.allocatable or {})


def test_eight_gpu_deployment_lands_on_a_b200_node(api_client: client.ApiClient, namespace: str) -> None:
    apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
    apps.create_namespaced_deployment(namespace, {
        "metadata": {"name": "gpu8"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "gpu8"}}, "template": _gpu_pod_template("gpu8", 8)},
    })
    _wait(lambda: any(p.spec.node_name for p in _pods(core, namespace, "gpu8")), 60, "gpu8 pod scheduled")
    pod = _pods(core, namespace, "gpu8")[0]
    assert pod.spec.node_name.startswith("b200-")
    _wait(lambda: _pods(core, namespace, "gpu8")[0].status.phase == "Running", 60, "gpu8 pod Running")


def test_two_eight_gpu_pods_spread_over_both_b200_nodes(api_client: client.ApiClient, namespace: str) -> None:
    apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
    apps.create_namespaced_stateful_set(namespace, {
        "metadata": {"name": "mn"},
        "spec": {
            "replicas": 2, "serviceName": "mn", "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {"app": "mn"}}, "template": _gpu_pod_template("mn", 8),
        },
    })
    _wait(lambda: sum(1 for p in _pods(core, namespace, "mn") if p.spec.node_name) == 2, 60, "both pods placed")
    placed = sorted(p.spec.node_name for p in _pods(core, namespace, "mn"))
    assert placed == ["b200-0", "b200-1"]


def test_sixteen_gpus_stay_pending(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    body = {"metadata": {"name": "gpu16", "labels": {"app": "gpu16"}}, **_gpu_pod_template("gpu16", 16)}
    body["metadata"] = {"name": "gpu16", "labels": {"app": "gpu16"}}
    core.create_namespaced_pod(namespace, body)

    def unschedulable() -> bool:
        pod = core.read_namespaced_pod("gpu16", namespace)
        return any(c.type == "PodScheduled" and c.reason == "Unschedulable" for c in (pod.status.conditions or []))

    _wait(unschedulable, 60, "scheduler to mark gpu16 Unschedulable")
    pod = core.read_namespaced_pod("gpu16", namespace)
    assert pod.status.phase == "Pending" and not pod.spec.node_name


def test_pod_security_admission_refuses_privileged_pod(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    core.patch_namespace(namespace, {"metadata": {"labels": {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
    }}})
    privileged = {
        "metadata": {"name": "priv"},
        "spec": {"containers": [{"name": "c", "image": "x", "securityContext": {"privileged": True}}]},
    }
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_pod(namespace, privileged)
    assert err.value.status == 403
    assert "violates PodSecurity" in err.value.body


def test_claims_of_the_default_class_are_provisioned_and_reclaimed(api_client: client.ApiClient,
                                                                    namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespaced_persistent_volume_claim(namespace, {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
    _wait(lambda: core.read_namespaced_persistent_volume_claim("data", namespace).status.phase == "Bound", 30,
          "the claim to bind")
    volume = core.read_namespaced_persistent_volume_claim("data", namespace).spec.volume_name
    pv = core.read_persistent_volume(volume)
    assert pv.spec.storage_class_name == "standard" and pv.spec.persistent_volume_reclaim_policy == "Delete"
    core.delete_namespaced_persistent_volume_claim("data", namespace)

    def gone() -> bool:
        try:
            core.read_persistent_volume(volume)
        except client.ApiException as exc:
            return exc.status == 404
        return False

    # Reclaimed with its claim: a long-lived environment never runs out of volumes.
    _wait(gone, 60, f"volume {volume} to be deleted with its claim")


class _Flaky:
    """A KwokCluster whose first start loses the scheduler's port, as under parallel starts."""

    def __init__(self, tmp_path: Any, causes: list[dict[str, str]]) -> None:
        from conformance.env.cluster import KwokCluster
        from conformance.env.config import EnvConfig

        self.cluster = KwokCluster(tmp_path, EnvConfig())
        self.causes = causes
        self.starts = 0
        self.deletes = 0
        self.cluster._create_once = self._start  # type: ignore[method-assign]
        self.cluster.dead_components = lambda: self.causes[self.starts - 1]  # type: ignore[method-assign]
        self.cluster.delete = self._delete  # type: ignore[method-assign]

    def _start(self) -> None:
        self.starts += 1

    def _delete(self) -> None:
        self.deletes += 1


def test_component_that_lost_its_port_is_started_again(tmp_path: Any) -> None:
    lost = {"kube-scheduler": "listen tcp 127.0.0.1:32755: bind: address already in use"}
    flaky = _Flaky(tmp_path, [lost, {}])
    flaky.cluster.create()
    assert (flaky.starts, flaky.deletes) == (2, 1)


def test_component_that_keeps_dying_is_an_error_naming_it(tmp_path: Any) -> None:
    from conformance.errors import ConformanceError

    lost = {"kube-scheduler": "bind: address already in use"}
    flaky = _Flaky(tmp_path, [lost, lost, lost])
    with pytest.raises(ConformanceError, match="kube-scheduler: bind: address already in use"):
        flaky.cluster.create()
    assert flaky.starts == 3
    crashed = _Flaky(tmp_path, [{"kwok-controller": "panic: boom"}])
    with pytest.raises(ConformanceError, match="kwok-controller: panic: boom"):
        crashed.cluster.create()
    assert crashed.starts == 1  # not a port collision: no second try


def test_start_that_never_got_ready_after_a_port_collision_is_retried(tmp_path: Any) -> None:
    from conformance.errors import ConformanceError

    flaky = _Flaky(tmp_path, [{"etcd": "bind: address already in use"}, {}])

    def start() -> None:
        flaky.starts += 1
        if flaky.starts == 1:
            raise ConformanceError("kwokctl create cluster timed out after 150s")

    flaky.cluster._create_once = start  # type: ignore[method-assign]
    flaky.cluster.create()
    assert (flaky.starts, flaky.deletes) == (2, 1)
