"""Pin a function's pods to the GPU its instance type names, through required node affinity.

The chart decides how many pods and GPUs it asks for (a multi-node chart brings its own replicas and
anti-affinity); the instance type decides *which* nodes may take them. Node selector terms are ORed
by Kubernetes, so the GPU requirement is added to every term the chart already has rather than as a
term of its own, which would let a pod escape to any node matching the chart's terms.

A single-node type (`_<n>x`, no `.xN`) also keeps the instance on one node: its GPU pods get a required
affinity to each other on `kubernetes.io/hostname`, so a chart asking for more than one node's worth
cannot spread out (the extra pods stay unschedulable, and the deployment fails saying so).
"""

from __future__ import annotations

import copy
from collections.abc import Collection
from typing import Any

from reference import rules
from reference.backend.deploy.instance_types import GPU_PRODUCT_LABEL, GPU_RESOURCE, InstanceType
from reference.charts.mutate import VERSION_LABEL
from reference.charts.objects import POD_SPEC_PATHS, as_dict, containers, dig

GPU_POD_LABEL = "nvcf.reference/gpu-pod"
HOSTNAME = "kubernetes.io/hostname"
_REPLICATED = ("Deployment", "ReplicaSet", "StatefulSet")


def _requirement(instance: InstanceType) -> dict[str, Any]:
    return {"key": GPU_PRODUCT_LABEL, "operator": "In", "values": [instance.gpu_product]}


def pin_pod_spec(spec: dict[str, Any], instance: InstanceType) -> None:
    """Add the GPU-product requirement to `spec` in place."""
    affinity = spec.get("affinity")
    if not isinstance(affinity, dict):
        affinity = spec["affinity"] = {}
    node_affinity = affinity.get("nodeAffinity")
    if not isinstance(node_affinity, dict):
        node_affinity = affinity["nodeAffinity"] = {}
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if not isinstance(required, dict):
        required = node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {}
    terms = required.get("nodeSelectorTerms")
    if not isinstance(terms, list) or not terms:
        terms = required["nodeSelectorTerms"] = [{}]
    for term in terms:
        if not isinstance(term, dict):
            continue
        expressions = term.get("matchExpressions")
        if not isinstance(expressions, list):
            expressions = term["matchExpressions"] = []
        expressions.append(_requirement(instance))


def requests_gpus(spec: dict[str, Any]) -> bool:
    for _, container in containers(spec):
        resources = as_dict(container.get("resources"))
        for section in ("limits", "requests"):
            if str(as_dict(resources.get(section)).get(GPU_RESOURCE, "0")).strip() not in ("", "0"):
                return True
    return False


def keep_on_one_node(spec: dict[str, Any], metadata: dict[str, Any], version_id: str, *,
                     kind: str = "podAffinity") -> None:
    """Label a GPU pod (template) and make it require the node of the version's other GPU pods
    (`kind` podAntiAffinity: require a node none of them is on, which only a mutant asks for)."""
    labels = metadata.get("labels")
    if not isinstance(labels, dict):
        labels = metadata["labels"] = {}
    labels[GPU_POD_LABEL] = "true"
    affinity = spec.get("affinity")
    if not isinstance(affinity, dict):
        affinity = spec["affinity"] = {}
    pod_affinity = affinity.get(kind)
    if not isinstance(pod_affinity, dict):
        pod_affinity = affinity[kind] = {}
    required = pod_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if not isinstance(required, list):
        required = pod_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = []
    # The first pod of the group matches its own selector, which Kubernetes lets it place anywhere.
    required.append({"topologyKey": HOSTNAME,
                     "labelSelector": {"matchLabels": {VERSION_LABEL: version_id, GPU_POD_LABEL: "true"}}})


def divide_gpus(spec: dict[str, Any], by: int) -> None:
    """Give every container 1/`by` of the GPUs it asks for (at least one); for the placement mutants."""
    for _, container in containers(spec):
        resources = as_dict(container.get("resources"))
        for section in ("limits", "requests"):
            amounts = resources.get(section)
            if isinstance(amounts, dict) and str(amounts.get(GPU_RESOURCE, "")).strip().isdigit():
                amounts[GPU_RESOURCE] = max(1, int(str(amounts[GPU_RESOURCE]).strip()) // by)


def pin_object(obj: dict[str, Any], instance: InstanceType, version_id: str | None = None, *,
               violate: Collection[str] = frozenset()) -> dict[str, Any]:
    """A copy of `obj` whose pod spec (if it has one) is placed as the instance type says."""
    kind = str(obj.get("kind", ""))
    path = POD_SPEC_PATHS.get(kind)
    if path is None:
        return obj
    pinned = copy.deepcopy(obj)
    spec = dig(pinned, *path)
    if not isinstance(spec, dict):
        return pinned
    pin_pod_spec(spec, instance)
    if (version_id is None or not requests_gpus(spec)
            or (instance.multi_node and rules.MULTINODE_PLACEMENT not in violate)):
        return pinned  # a multi-node chart spreads its own pods
    holder = pinned if kind == "Pod" else dig(pinned, *path[:-1])
    if not isinstance(holder, dict):
        return pinned
    metadata = holder.get("metadata")
    if not isinstance(metadata, dict):
        metadata = holder["metadata"] = {}
    if instance.multi_node:
        as_dict(spec.get("affinity")).pop("podAntiAffinity", None)
        divide_gpus(spec, instance.nodes)
        keep_on_one_node(spec, metadata, version_id)
    elif rules.ITYPE_SINGLE_NODE_PLACEMENT in violate and instance.gpus_per_node > 1 and kind in _REPLICATED:
        replicas = pinned["spec"].get("replicas")
        pinned["spec"]["replicas"] = 2 * (replicas if isinstance(replicas, int) else 1)
        divide_gpus(spec, 2)
        keep_on_one_node(spec, metadata, version_id, kind="podAntiAffinity")
    else:
        keep_on_one_node(spec, metadata, version_id)
    return pinned
