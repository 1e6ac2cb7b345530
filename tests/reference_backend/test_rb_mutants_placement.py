"""The back half's mutants for instance types, placement and the mini-service Service (no cluster needed).

Each mutant must break its rule end to end, so the suite's test can see it: the unit tests here pin
down the piece of the back half each one changes, and that nothing changes without it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from reference import rules, validation
from reference.backend.cluster import service_targets
from reference.backend.cluster.readiness import observe, pick_service
from reference.backend.deploy.instance_types import InstanceTypeError, accept_instance_type, parse_instance_type
from reference.backend.deploy.placement import pin_object
from reference.models import DeploymentRequest
from reference.ports import FunctionVersion
from reference.problems import Problem

GPU = "nvidia.com/gpu"
SPREAD = "kubernetes.io/hostname"
MALFORMED = ["ON-PREM.GPU.L40S", "ON-PREM.GPU.L40S_1", "ON-PREM.GPU.L40S_x", "ON-PREM.GPU.L40S_1x.2",
             "ON-PREM.GPU.L40S_1x.x", "GPU.L40S_1x", "ON-PREM.L40S_1x"]


# ── instance types ───────────────────────────────────────────────────────────────────────────────

@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_types_are_refused_unless_the_mutant_guesses_one_gpu(text: str) -> None:
    with pytest.raises(InstanceTypeError, match="does not follow"):
        accept_instance_type(text, "L40S")
    guessed = accept_instance_type(text, "L40S", {rules.ITYPE_MALFORMED_REFUSED})
    assert (guessed.text, guessed.gpu_product, guessed.gpus_per_node, guessed.nodes) == (text, "NVIDIA-L40S", 1, 1)
    assert not guessed.multi_node


def test_the_malformed_mutant_leaves_well_formed_types_alone() -> None:
    for text in ("ON-PREM.GPU.B200_8x", "ON-PREM.GPU.B200_8x.x2"):
        assert accept_instance_type(text, "L40S", {rules.ITYPE_MALFORMED_REFUSED}) == parse_instance_type(text)


def _deployment_request(instance_type: str) -> DeploymentRequest:
    return DeploymentRequest.model_validate({"deploymentSpecifications": [
        {"gpu": "L40S", "instanceType": instance_type, "minInstances": 1, "maxInstances": 1}]})


def test_the_api_lets_a_malformed_type_through_only_under_the_mutant() -> None:
    function = FunctionVersion(function_id="f", version_id="v", name="n", inference_url="/v2/models/echo/infer",
                               inference_port=8000, health={}, helm_chart="oci://127.0.0.1:5000/c/minimal-http:1.0.0",
                               helm_chart_service_name="minimal-http")
    for text in MALFORMED:
        with pytest.raises(Problem, match="instanceType"):
            validation.deployment(_deployment_request(text), function, "d")
        accepted = validation.deployment(_deployment_request(text), function, "d", {rules.ITYPE_MALFORMED_REFUSED})
        assert accepted.specifications[0].instance_type == text


def test_the_multinode_mutant_refuses_every_node_suffix_and_nothing_else() -> None:
    for text in ("ON-PREM.GPU.B200_8x.x2", "ON-PREM.GPU.B200_8x.x1"):
        assert accept_instance_type(text, "B200").multi_node_suffix
        with pytest.raises(InstanceTypeError, match=text.replace(".", r"\.")):
            accept_instance_type(text, "B200", {rules.MULTINODE_ACCEPTED})
    assert accept_instance_type("ON-PREM.GPU.B200_8x", "B200", {rules.MULTINODE_ACCEPTED}).gpus_per_node == 8


def test_the_single_node_mutant_refuses_multi_gpu_single_node_types_only() -> None:
    with pytest.raises(InstanceTypeError, match=r"ON-PREM\.GPU\.B200_8x"):
        accept_instance_type("ON-PREM.GPU.B200_8x", "B200", {rules.ITYPE_SINGLE_NODE_ACCEPTED})
    assert accept_instance_type("ON-PREM.GPU.L40S_1x", "L40S", {rules.ITYPE_SINGLE_NODE_ACCEPTED}).gpus_per_node == 1
    assert accept_instance_type("ON-PREM.GPU.B200_8x.x2", "B200", {rules.ITYPE_SINGLE_NODE_ACCEPTED}).nodes == 2
    assert accept_instance_type("ON-PREM.GPU.B200_8x", "B200").gpus_per_node == 8


# ── placement ────────────────────────────────────────────────────────────────────────────────────

def _statefulset(gpus: int, replicas: int = 1) -> dict[str, Any]:
    """The multinode case's shape: GPU pods the chart itself keeps on distinct nodes."""
    chart_spread = {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": SPREAD, "labelSelector": {"matchLabels": {"app": "x"}}}]}
    container = {"name": "c", "resources": {"limits": {GPU: gpus}, "requests": {GPU: str(gpus)}}}
    return {"kind": "StatefulSet", "spec": {"replicas": replicas, "template": {
        "metadata": {"labels": {"app": "x"}},
        "spec": {"containers": [container], "affinity": {"podAntiAffinity": chart_spread}}}}}


def _gpus(obj: dict[str, Any]) -> tuple[Any, Any]:
    resources = obj["spec"]["template"]["spec"]["containers"][0]["resources"]
    return resources["limits"][GPU], resources["requests"][GPU]


def test_the_single_node_placement_mutant_splits_an_instance_over_nodes() -> None:
    instance = parse_instance_type("ON-PREM.GPU.B200_8x")
    conformant = pin_object(_statefulset(8), instance, "v-1")
    assert "podAffinity" in conformant["spec"]["template"]["spec"]["affinity"]
    split = pin_object(_statefulset(8), instance, "v-1", violate={rules.ITYPE_SINGLE_NODE_PLACEMENT})
    affinity = split["spec"]["template"]["spec"]["affinity"]
    assert split["spec"]["replicas"] == 2 and _gpus(split) == (4, 4)
    assert "podAffinity" not in affinity
    (apart,) = [t for t in affinity["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                if "nvcf.reference/gpu-pod" in t["labelSelector"]["matchLabels"]]
    assert apart["topologyKey"] == SPREAD


def test_the_single_node_placement_mutant_leaves_one_gpu_instances_alone() -> None:
    # The smoke rules deploy `_1x`: there is nothing to split, so they keep passing.
    instance = parse_instance_type("ON-PREM.GPU.L40S_1x")
    assert (pin_object(_statefulset(1), instance, "v-1", violate={rules.ITYPE_SINGLE_NODE_PLACEMENT})
            == pin_object(_statefulset(1), instance, "v-1"))


def test_the_multinode_placement_mutant_packs_an_instance_onto_one_node() -> None:
    instance = parse_instance_type("ON-PREM.GPU.B200_8x.x2")
    conformant = pin_object(_statefulset(8, 2), instance, "v-1")
    assert "podAffinity" not in conformant["spec"]["template"]["spec"]["affinity"]
    assert _gpus(conformant) == (8, "8")
    packed = pin_object(_statefulset(8, 2), instance, "v-1", violate={rules.MULTINODE_PLACEMENT})
    affinity = packed["spec"]["template"]["spec"]["affinity"]
    assert "podAntiAffinity" not in affinity and packed["spec"]["replicas"] == 2
    (together,) = affinity["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert together["topologyKey"] == SPREAD and _gpus(packed) == (4, 4)


# ── the mini-service Service ─────────────────────────────────────────────────────────────────────

def _service(name: str, port: int, *, selector: bool = True, headless: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"ports": [{"name": "http", "port": port, "targetPort": "http"}]}
    if selector:
        spec["selector"] = {"app": name}
    if headless:
        spec["clusterIP"] = "None"
    return {"kind": "Service", "metadata": {"name": name}, "spec": spec}


def test_the_port_mutant_reaches_the_service_through_its_real_port() -> None:
    service = _service("mini", 8080)
    assert service_targets.as_served(service, 8000) is service
    assert service_targets.as_served(service, 8080, {rules.SVC_PORT_MISMATCH_REFUSED}) is service
    served = service_targets.as_served(service, 8000, {rules.SVC_PORT_MISMATCH_REFUSED})
    assert served["spec"]["ports"][0] == {"name": "http", "port": 8000, "targetPort": "http"}
    assert service["spec"]["ports"][0]["port"] == 8080  # the cluster's object is left alone
    container = {"name": "mini", "image": "nvcf-conformance/mini-service:1",
                 "ports": [{"name": "http", "containerPort": 8000}]}
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [container]}}
    with pytest.raises(service_targets.NoRoute, match="no port 8000"):
        service_targets.resolve(pod, service, 8000, "nvcf-conformance/mini-service")
    assert service_targets.resolve(pod, served, 8000, "nvcf-conformance/mini-service").container_port == 8000


def test_a_stand_in_service_routes_to_pods() -> None:
    services = [_service("b-mini", 8000), _service("a-headless", 8000, headless=True),
                _service("a-external", 8000, selector=False), _service("c-mini", 8000)]
    assert pick_service(services)["metadata"]["name"] == "b-mini"  # type: ignore[index]
    assert pick_service([_service("h", 8000, headless=True)]) is None


class _Kube:
    """Enough of `Kube` for `observe`: one namespace with one Service, `actual`."""

    def __init__(self) -> None:
        self.slices_asked: list[str] = []
        self.actual = _service("actual", 8000)

    async def services(self, namespace: str) -> list[dict[str, Any]]:
        return [self.actual]

    async def pods(self, namespace: str) -> list[dict[str, Any]]:
        return []

    async def service(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.actual if name == "actual" else None

    async def endpoint_slices(self, namespace: str, service: str) -> list[dict[str, Any]]:
        self.slices_asked.append(service)
        return [{"endpoints": [], "service": service}]


def test_the_name_mutant_serves_through_whatever_service_the_chart_has() -> None:
    kube = _Kube()
    missing = asyncio.run(observe(kube, "ns", "named"))  # type: ignore[arg-type]
    assert missing.service is None
    found = asyncio.run(observe(kube, "ns", "named", {rules.SVC_NAME_MISMATCH_REFUSED}))  # type: ignore[arg-type]
    assert found.service == kube.actual and found.slices == ({"endpoints": [], "service": "actual"},)
    assert kube.slices_asked == ["named", "named", "actual"]
