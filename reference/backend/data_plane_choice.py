"""Which data plane reaches the functions: local probe processes (KWOK) or port-forward (real pods).

`kwok-local` runs the mini-service probe as a local process per ready pod: right on KWOK, where no
container runs. `port-forward` reaches the pods' own containers through the API server: right where
kubelets run containers (kind, real clusters). `auto` picks kwok-local when every node is a KWOK node
and port-forward otherwise.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any, Literal

from kubernetes import client

from reference.charts.objects import dig

log = logging.getLogger("reference.backend.data_plane_choice")

DataPlaneKind = Literal["kwok-local", "port-forward"]
CHOICES = ("kwok-local", "port-forward", "auto")
# What kwok's own node templates put on the nodes it simulates.
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"


def is_kwok_node(node: dict[str, Any]) -> bool:
    annotations = dig(node, "metadata", "annotations") or {}
    labels = dig(node, "metadata", "labels") or {}
    kubelet = str(dig(node, "status", "nodeInfo", "kubeletVersion") or "")
    return KWOK_NODE_ANNOTATION in annotations or labels.get("type") == "kwok" or kubelet.startswith("kwok")


def decide(requested: str, nodes: Iterable[dict[str, Any]]) -> DataPlaneKind:
    """The data plane for `requested` (one of CHOICES) on a cluster with these nodes."""
    if requested == "kwok-local" or requested == "port-forward":
        return requested
    if requested != "auto":
        raise ValueError(f"unknown data plane {requested!r} (one of {', '.join(CHOICES)})")
    # No nodes at all: nothing will run anywhere, and the KWOK plane is the one that needs nothing.
    return "kwok-local" if all(is_kwok_node(n) for n in nodes) else "port-forward"


def choose(requested: str, core: client.CoreV1Api) -> DataPlaneKind:
    """`decide` against the cluster's nodes; kwok-local when `auto` cannot read them (logged)."""
    if requested != "auto":
        return decide(requested, ())
    try:
        response = core.list_node(_preload_content=False, _request_timeout=10)
        items = json.loads(response.data).get("items") or []
    except Exception as exc:  # unreachable cluster, forbidden, ...: the server still starts
        log.warning("--data-plane auto: cannot list the cluster's nodes (%s: %s); using kwok-local",
                    type(exc).__name__, exc)
        return "kwok-local"
    chosen = decide("auto", [n for n in items if isinstance(n, dict)])
    log.info("--data-plane auto: %d node(s), %s; using %s", len(items),
             "all KWOK" if chosen == "kwok-local" else "not all KWOK", chosen)
    return chosen
