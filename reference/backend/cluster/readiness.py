"""What the cluster says about a function's namespace: its pods, its mini-service Service, and which
pods that Service routes to (its EndpointSlices' ready endpoints).

Readiness comes from the EndpointSlices, not from our own reading of pod conditions: they are what a
Service really routes by, and the endpoint controller already applied the selector, the
`publishNotReadyAddresses` setting and pod readiness.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from reference import rules
from reference.backend.cluster.kube import Kube
from reference.charts.objects import as_dict, as_list, dig


@dataclass(frozen=True)
class Snapshot:
    pods: tuple[dict[str, Any], ...]
    service: dict[str, Any] | None
    slices: tuple[dict[str, Any], ...]

    def pod(self, name: str) -> dict[str, Any] | None:
        for pod in self.pods:
            if dig(pod, "metadata", "name") == name:
                return pod
        return None

    def ready_endpoint_pods(self) -> list[dict[str, Any]]:
        """Pods that back a ready endpoint of the Service, each once, in a stable order."""
        names: list[str] = []
        for item in self.slices:
            for endpoint in as_list(item.get("endpoints")):
                if not isinstance(endpoint, dict):
                    continue
                ref = as_dict(endpoint.get("targetRef"))
                ready = as_dict(endpoint.get("conditions")).get("ready")
                # A missing `ready` means ready, per the EndpointSlice API.
                if ref.get("kind") == "Pod" and ready is not False and ref.get("name") not in names:
                    names.append(str(ref.get("name")))
        pods = [self.pod(n) for n in sorted(names)]
        # A pod listed without its node is an older copy than the slice that calls it ready (lists of
        # different kinds are not one snapshot): take it at the next look, with its node and its env.
        return [p for p in pods if p is not None and not dig(p, "metadata", "deletionTimestamp")
                and dig(p, "spec", "nodeName")]

    def selected_pods(self) -> list[dict[str, Any]]:
        """Pods the Service's selector matches, ready or not (the function's instances)."""
        selector = as_dict(dig(self.service, "spec", "selector")) if self.service else {}
        if not selector:
            return []
        return [p for p in self.pods
                if all(as_dict(dig(p, "metadata", "labels")).get(k) == v for k, v in selector.items())]

    def unschedulable(self) -> list[tuple[dict[str, Any], str]]:
        """(pod, the scheduler's message) for every pod the scheduler could not place."""
        found = []
        for pod in self.pods:
            if dig(pod, "status", "phase") != "Pending" or dig(pod, "spec", "nodeName"):
                continue
            for cond in as_list(dig(pod, "status", "conditions")):
                if (isinstance(cond, dict) and cond.get("type") == "PodScheduled" and cond.get("status") == "False"
                        and cond.get("reason") == "Unschedulable"):
                    found.append((pod, str(cond.get("message") or "no node fits it")))
        return found

    def describe_pods(self, limit: int = 5) -> str:
        """One line about the pods' states, for a timeout's error reason."""
        parts = []
        for pod in self.pods[:limit]:
            name = dig(pod, "metadata", "name")
            phase = dig(pod, "status", "phase") or "Unknown"
            ready = is_ready_pod(pod)
            node = dig(pod, "spec", "nodeName")
            parts.append(f"{name} {phase}{' ready' if ready else ''}{f' on {node}' if node else ''}")
        more = f" and {len(self.pods) - limit} more" if len(self.pods) > limit else ""
        return ("pods: " + ", ".join(parts) + more) if parts else "no pods"


def is_ready_pod(pod: dict[str, Any]) -> bool:
    return any(isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True"
               for c in as_list(dig(pod, "status", "conditions")))


async def observe(kube: Kube, namespace: str, service_name: str, violate: Collection[str] = frozenset()
                  ) -> Snapshot:
    pods, service, slices = await asyncio.gather(
        kube.pods(namespace), kube.service(namespace, service_name), kube.endpoint_slices(namespace, service_name),
    )
    if service is None and rules.SVC_NAME_MISMATCH_REFUSED in violate:
        # The mutant (whose chart check is off too) serves through whatever Service the chart has.
        service = await stand_in_service(kube, namespace)
        if service is not None:
            slices = await kube.endpoint_slices(namespace, str(dig(service, "metadata", "name")))
    return Snapshot(tuple(pods), service, tuple(slices))


async def stand_in_service(kube: Kube, namespace: str) -> dict[str, Any] | None:
    return pick_service(await kube.services(namespace))


def pick_service(services: list[Any]) -> dict[str, Any] | None:
    """The first Service by name that routes to pods (has a selector and is not headless)."""
    routed = [s for s in services if isinstance(s, dict) and as_dict(dig(s, "spec", "selector"))
              and dig(s, "spec", "clusterIP") != "None"]
    return min(routed, key=lambda s: str(dig(s, "metadata", "name")), default=None)
