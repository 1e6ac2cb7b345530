"""Instance types `<CSP>.GPU.<GPU>_<n>x[.x<nodes>]`: single-node and multi-node placement."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from conformance.client import Nonconformant
from conformance.errors import ConformanceError
from conformance.plugin import ChartRef, Expect, Functions, ItemRecord, params_of
from conformance.target.config import GpuShape, TargetConfig

DEPLOYMENT_LABEL = "nvcf-conformance.io/deployment"


def _shape(target: TargetConfig) -> GpuShape:
    shape = target.multinode_shape()
    if shape is None:
        raise ConformanceError("the multinode profile is claimed but gpu_shapes lists no GPU node shape with "
                               "nodes >= 2; describe the backend's nodes in the target config")
    return shape


def _multinode(target: TargetConfig, functions: Functions, chart: ChartRef, nodes: int) -> tuple[dict[str, Any],
                                                                                                   dict[str, Any]]:
    shape = _shape(target)
    csp = target["deployment.csp"]
    spec = functions.spec(chart, gpu=shape.gpu, instanceType=shape.instance_type(csp, nodes=nodes))
    configuration = {"multinode": {"nodes": nodes, "gpusPerNode": shape.gpus_per_node}}
    return spec, configuration


def _tagged(configuration: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The configuration plus a label value unique to this deployment: other tests of the same run
    deploy the same case at the same time, and only this deployment's pods may be judged."""
    tag = uuid.uuid4().hex[:12]
    return {**configuration, "conformance": {"deployment": tag}}, tag


def _placement(cluster: Any, case: str, tag: str, expected_pods: int) -> list[Any]:
    def mine() -> list[dict[str, Any]]:
        return [p for p in cluster.pods(case, running=True)
                if (p["metadata"].get("labels") or {}).get(DEPLOYMENT_LABEL) == tag]

    pods = cluster.wait_for("multinode pods", mine, lambda found: len(found) >= expected_pods)
    if not pods:
        raise ConformanceError(f"no running pod labelled {DEPLOYMENT_LABEL}={tag} (the chart labels every object "
                               "with conformance.deployment from the configuration): placement cannot be judged")
    return cluster.placement(pods)


@pytest.mark.rule("ITYPE-SINGLE-NODE-ACCEPTED")
@pytest.mark.case("minimal-http")
def test_single_node_type_accepted(chart: ChartRef, target: TargetConfig, functions: Functions,
                                   expect: Expect) -> None:
    # The configured type as given, and a whole node of every GPU shape the backend offers (`_<n>x`, n > 1).
    csp = target["deployment.csp"]
    specs = [functions.spec(chart)] + [
        functions.spec(chart, gpu=shape.gpu, instanceType=shape.instance_type(csp))
        for shape in target.gpu_shapes if shape.gpus_per_node > 1
    ]
    for spec in specs:
        expect.deployed(chart, spec=spec)
    expect.observed("deployed-conformant", "ACTIVE and answering with " + ", ".join(s["instanceType"] for s in specs))


@pytest.mark.rule("ITYPE-SINGLE-NODE-PLACEMENT")
@pytest.mark.case("multinode")
def test_single_node_placement(chart: ChartRef, target: TargetConfig, functions: Functions, cluster: Any,
                               expect: Expect, record: ItemRecord) -> None:
    shape = _shape(target) if target.multinode_shape() else (target.gpu_shapes or (None,))[0]
    if shape is None:
        raise ConformanceError("gpu_shapes lists no GPU node shape; describe the backend's nodes in the target config")
    spec = functions.spec(chart, gpu=shape.gpu, instanceType=shape.instance_type(target["deployment.csp"]))
    configuration, tag = _tagged({"multinode": {"nodes": 1, "gpusPerNode": shape.gpus_per_node}})
    functions.deployed(chart, spec=spec, configuration=configuration)
    placed = _placement(cluster, chart.case, tag, 1)
    record.cluster_objects = [p.__dict__ for p in placed]
    nodes = {p.node for p in placed if p.gpus}
    if len(nodes) != 1:
        raise Nonconformant(f"the GPU pods of one single-node instance run on {sorted(map(str, nodes))}",
                            "deployed-violating")
    expect.observed("deployed-conformant", f"all GPU pods on {nodes.pop()}")


@pytest.mark.rule("MULTINODE-ACCEPTED")
@pytest.mark.case("multinode")
def test_multinode_type_accepted(chart: ChartRef, target: TargetConfig, functions: Functions,
                                 expect: Expect) -> None:
    spec, configuration = _multinode(target, functions, chart, 2)
    expect.deployed(chart, spec=spec, configuration=configuration)


@pytest.mark.rule("MULTINODE-PLACEMENT")
@pytest.mark.case("multinode")
def test_multinode_placement(chart: ChartRef, target: TargetConfig, functions: Functions, cluster: Any,
                             expect: Expect, record: ItemRecord) -> None:
    shape = _shape(target)
    nodes = min(shape.nodes, 2)
    spec, configuration = _multinode(target, functions, chart, nodes)
    configuration, tag = _tagged(configuration)
    functions.deployed(chart, spec=spec, configuration=configuration)
    placed = _placement(cluster, chart.case, tag, nodes)
    record.cluster_objects = [p.__dict__ for p in placed]
    gpu_pods = [p for p in placed if p.gpus]
    distinct = {p.node for p in gpu_pods}
    if len(distinct) != nodes or any(p.gpus != shape.gpus_per_node for p in gpu_pods):
        raise Nonconformant(f"expected {nodes} distinct GPU nodes with {shape.gpus_per_node} GPUs each, got "
                            f"{[(p.pod, p.node, p.gpus) for p in gpu_pods]}", "deployed-violating")
    wrong = [p for p in gpu_pods if p.gpu_product and shape.gpu not in p.gpu_product]
    if wrong:
        raise Nonconformant(f"pods on nodes of another GPU: {[(p.pod, p.gpu_product) for p in wrong]}",
                            "deployed-violating")
    expect.observed("deployed-conformant", f"{nodes} pods on distinct nodes {sorted(map(str, distinct))}")


@pytest.mark.rule("MULTINODE-FULL-NODE-ONLY")
@pytest.mark.parametrize("param", params_of("MULTINODE-FULL-NODE-ONLY"))
def test_multinode_full_node_only(param: str, chart: ChartRef, target: TargetConfig, functions: Functions,
                                  expect: Expect) -> None:
    shape = _shape(target)
    csp = target["deployment.csp"]
    if param == "partial-node-gpu-count":
        if shape.gpus_per_node < 2:
            raise ConformanceError(f"the {shape.gpu} nodes have one GPU: there is no partial-node count to try")
        instance_type = shape.instance_type(csp, nodes=2, gpus=shape.gpus_per_node // 2)
    else:
        instance_type = f"{shape.instance_type(csp)}.x1"
    spec = functions.spec(chart, gpu=shape.gpu, instanceType=instance_type)
    expect.refused(chart, offenders=[instance_type, "instanceType"], spec=spec)
