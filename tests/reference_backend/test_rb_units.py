"""The back half's pure parts: instance types, placement, image matching, env and volume resolution."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest

from reference.backend.cluster import service_targets
from reference.backend.cluster.namespaces import namespace_name
from reference.backend.deploy.health import seconds
from reference.backend.deploy.instance_types import InstanceTypeError, parse_instance_type
from reference.backend.deploy.placement import pin_object
from reference.backend.kwok import images
from reference.backend.kwok.podenv import ContainerConfigError, container_env, expand
from reference.backend.kwok.volumes import Mount, local_path, materialise_mounts


@pytest.mark.parametrize(
    ("text", "gpu", "per_node", "nodes"),
    [("DGXC.GPU.L40S_1x", "L40S", 1, 1), ("ON-PREM.GPU.B200_8x.x2", "B200", 8, 2), ("GCP.GPU.H100_4x", "H100", 4, 1)],
)
def test_instance_types_parse(text: str, gpu: str, per_node: int, nodes: int) -> None:
    parsed = parse_instance_type(text)
    assert (parsed.gpu, parsed.gpus_per_node, parsed.nodes) == (gpu, per_node, nodes)
    assert parsed.gpu_product == f"NVIDIA-{gpu}"
    assert parsed.multi_node is (nodes > 1)
    assert parsed.multi_node_suffix is (".x" in text)
    assert parsed.single_node_text == text.split(".x")[0]


@pytest.mark.parametrize("text", ["L40S_1x", "DGXC.GPU.L40S", "DGXC.GPU.L40S_0x", "DGXC.GPU.L40S_1x.x0",
                                  "DGXC.CPU.L40S_1x", "DGXC.GPU.L40S_1x.2"])
def test_malformed_instance_types_are_refused(text: str) -> None:
    with pytest.raises(InstanceTypeError, match="does not follow"):
        parse_instance_type(text)


def test_placement_adds_the_gpu_to_every_node_selector_term() -> None:
    chart_terms = [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
                   {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]
    deployment = {"kind": "Deployment", "spec": {"template": {"spec": {"affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": chart_terms}}}}}}}
    pinned = pin_object(deployment, parse_instance_type("DGXC.GPU.L40S_1x"))
    terms = pinned["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    wanted = {"key": "nvidia.com/gpu.product", "operator": "In", "values": ["NVIDIA-L40S"]}
    # Terms are ORed: each must carry the GPU requirement, or a pod could escape through one.
    assert all(wanted in term["matchExpressions"] for term in terms)
    assert terms[0]["matchExpressions"][0]["key"] == "zone"
    assert "matchExpressions" not in chart_terms[1]  # the input is left alone


def test_placement_covers_every_pod_bearing_kind_and_nothing_else() -> None:
    instance = parse_instance_type("ON-PREM.GPU.B200_8x.x2")
    pod = pin_object({"kind": "Pod", "spec": {"containers": []}}, instance)
    cron = pin_object({"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {}}}}}}, instance)
    service = {"kind": "Service", "spec": {"ports": []}}
    assert pod["spec"]["affinity"]["nodeAffinity"]
    assert cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
    assert pin_object(service, instance) is service


def test_single_node_types_keep_an_instances_gpu_pods_on_one_node() -> None:
    gpu_spec = {"containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": 8}}}]}
    sts = {"kind": "StatefulSet", "spec": {"template": {"metadata": {"labels": {"app": "x"}}, "spec": gpu_spec}}}
    single = pin_object(sts, parse_instance_type("ON-PREM.GPU.B200_8x"), "v-1")
    template = single["spec"]["template"]
    assert template["metadata"]["labels"] == {"app": "x", "nvcf.reference/gpu-pod": "true"}
    (term,) = template["spec"]["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term == {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {
        "nvcf.reference/function-version": "v-1", "nvcf.reference/gpu-pod": "true"}}}
    # Multi-node types spread by design; pods without GPUs go wherever they fit.
    multi = pin_object(sts, parse_instance_type("ON-PREM.GPU.B200_8x.x2"), "v-1")
    assert "podAffinity" not in multi["spec"]["template"]["spec"]["affinity"]
    cpu = pin_object({"kind": "Pod", "metadata": {}, "spec": {"containers": [{"name": "c"}]}},
                     parse_instance_type("DGXC.GPU.L40S_1x"), "v-1")
    assert "podAffinity" not in cpu["spec"]["affinity"] and "labels" not in cpu["metadata"]


@pytest.mark.parametrize(
    ("image", "ok"),
    [
        ("nvcf-conformance/mini-service:0.1.0", True),
        ("nvcf-conformance/mini-service", True),
        ("127.0.0.1:5000/nvcf-conformance/mini-service:0.1.0", True),
        ("registry.example.com/team/nvcf-conformance/mini-service@sha256:" + "a" * 64, True),
        ("localhost/nvcf-conformance/mini-service:dev", True),
        ("docker.io/library/nginx:1.27", False),
        ("nvcf-conformance/mini-service-fake:0.1.0", False),
        ("evil/nvcf-conformance-mini-service:1", False),
    ],
)
def test_only_the_probe_image_can_be_stood_in_for(image: str, ok: bool) -> None:
    assert images.is_probe_image(image, "nvcf-conformance/mini-service") is ok


def test_namespace_names_are_dns_labels() -> None:
    name = namespace_name("nvcf-", "3FA85F64-5717-4562-B3FC-2C963F66AFA6")
    assert name == "nvcf-3fa85f64-5717-4562-b3fc-2c963f66afa6"
    assert len(namespace_name("nvcf-", "x" * 100)) == 63


def test_health_timeouts_read_iso_durations() -> None:
    assert seconds("PT10S") == 10 and seconds("PT1M30S") == 90 and seconds("PT0.5S") == 0.5
    assert seconds("ten seconds") == 10.0


def test_env_expansion_follows_kubernetes() -> None:
    env = {"A": "1", "B": "two"}
    assert expand("$(A)-$(B)", env) == "1-two"
    assert expand("$$(A)", env) == "$(A)"  # escaped
    assert expand("$(MISSING) and $(A", env) == "$(MISSING) and $(A"


class _Objects:
    def __init__(self, config_maps: dict[str, dict[str, Any]], secrets: dict[str, dict[str, Any]]) -> None:
        self.config_maps, self.secrets = config_maps, secrets

    async def config_map(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.config_maps.get(name)

    async def secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.secrets.get(name)


POD: dict[str, Any] = {
    "metadata": {"name": "p-0", "namespace": "ns", "uid": "u-1", "labels": {"app": "x"}},
    "spec": {"nodeName": "l40s-0", "volumes": [
        {"name": "values", "configMap": {"name": "vals"}},
        {"name": "picked", "projected": {"sources": [
            {"configMap": {"name": "vals", "items": [{"key": "a.yaml", "path": "sub/renamed.yaml"}]}},
            {"secret": {"name": "creds"}}]}},
        {"name": "host", "hostPath": {"path": "/etc"}},
    ]},
    "status": {"podIP": "10.0.0.9"},
}
OBJECTS = _Objects({"vals": {"data": {"a.yaml": "x: 1\n", "b.txt": "hello"}}},
                   {"creds": {"data": {"token": base64.b64encode(b"s3cret").decode()}}})


def test_container_env_resolves_like_the_kubelet() -> None:
    container = {
        "envFrom": [{"configMapRef": {"name": "vals"}, "prefix": "V_"}],
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "GREETING", "value": "$(POD_NAME) says $(V_b.txt)"},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
            {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}}},
            {"name": "MAYBE", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k", "optional": True}}},
        ],
        "resources": {"limits": {"cpu": "500m"}},
    }
    env = asyncio.run(container_env(POD, container, OBJECTS))
    assert env["POD_NAME"] == "p-0" and env["APP"] == "x" and env["NODE"] == "l40s-0"
    assert env["GREETING"] == "p-0 says hello"
    assert env["TOKEN"] == "s3cret"
    assert env["CPU"] == "500"
    assert env["V_a.yaml"] == "x: 1\n"
    assert "MAYBE" not in env


def test_a_missing_reference_stops_the_container_as_the_kubelet_would() -> None:
    container = {"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k"}}}]}
    with pytest.raises(ContainerConfigError, match='configmap "nope" not found'):
        asyncio.run(container_env(POD, container, OBJECTS))


def test_volumes_are_materialised_and_never_expose_host_paths(tmp_path: Path) -> None:
    container = {"volumeMounts": [
        {"name": "values", "mountPath": "/etc/mini-service/values"},
        {"name": "picked", "mountPath": "/etc/picked"},
        {"name": "host", "mountPath": "/host-etc"},
    ]}
    mounts = asyncio.run(materialise_mounts(POD, container, OBJECTS, tmp_path))
    values = local_path(mounts, "/etc/mini-service/values", tmp_path / "none")
    assert (values / "a.yaml").read_text() == "x: 1\n" and (values / "b.txt").read_text() == "hello"
    picked = local_path(mounts, "/etc/picked", tmp_path / "none")
    assert (picked / "sub" / "renamed.yaml").read_text() == "x: 1\n" and (picked / "token").read_bytes() == b"s3cret"
    assert not any(local_path(mounts, "/host-etc", tmp_path / "none").iterdir())
    assert local_path(mounts, "/elsewhere", tmp_path / "none") == tmp_path / "none"
    assert local_path([Mount("/etc", tmp_path)], "/etc/a/b", tmp_path / "x") == tmp_path / "a" / "b"


def test_service_ports_lead_to_the_container_that_declares_them() -> None:
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "side", "image": "busybox", "ports": [{"name": "metrics", "containerPort": 9090}]},
        {"name": "probe", "image": "nvcf-conformance/mini-service:0.1.0",
         "ports": [{"name": "http", "containerPort": 8000}, {"name": "grpc", "containerPort": 8001}]},
    ]}}
    service = {"metadata": {"name": "svc"}, "spec": {"ports": [
        {"port": 80, "targetPort": "http"}, {"port": 9090}, {"port": 7000, "targetPort": 7000}]}}
    probe = "nvcf-conformance/mini-service"
    assert service_targets.resolve(pod, service, 80, probe).container_port == 8000
    assert service_targets.resolve(pod, service, 9090, probe).container_name == "side"
    # A numeric target no container declares: the probe container is the one that can take it.
    assert service_targets.resolve(pod, service, 7000, probe).container_name == "probe"
    with pytest.raises(service_targets.NoRoute, match="has no port 8000"):
        service_targets.resolve(pod, service, 8000, probe)


def test_a_deploy_timeout_names_the_latest_warning_of_its_namespace() -> None:
    """A pod a node refuses (here: no user namespaces) is named in the ERROR, not only the timeout."""
    from types import SimpleNamespace

    from reference.backend.deploy.deployer import KubeDeployer

    class Events:
        def __init__(self, events: list[dict[str, Any]] | Exception) -> None:
            self.events = events

        async def warning_events(self, namespace: str) -> list[dict[str, Any]]:
            if isinstance(self.events, Exception):
                raise self.events
            return self.events

    older = {"lastTimestamp": "2026-12-02T11:00:00Z", "reason": "BackOff", "message": "old",
             "involvedObject": {"kind": "Pod", "name": "p"}}
    latest = {"lastTimestamp": "2026-12-02T11:01:00Z", "reason": "FailedCreatePodSandBox",
              "message": "runtime does not support user namespaces", "involvedObject": {"kind": "Pod", "name": "p"}}
    said = asyncio.run(KubeDeployer._last_warning(SimpleNamespace(kube=Events([older, latest])), "ns"))
    assert said == "; last warning: pod/p: FailedCreatePodSandBox: runtime does not support user namespaces"
    assert asyncio.run(KubeDeployer._last_warning(SimpleNamespace(kube=Events([])), "ns")) == ""
    assert asyncio.run(KubeDeployer._last_warning(SimpleNamespace(kube=Events(RuntimeError("down"))), "ns")) == ""
