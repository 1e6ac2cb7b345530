"""Follow a Service port to the container that serves it, the way kube-proxy and the kubelet would.

A Service port names its target by number or by container-port name; the container that declares
that port is the one traffic reaches. When no container declares a numeric target (allowed: ports
are informational), the single container, or else the first running the probe, is taken.
"""

from __future__ import annotations

import copy
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from reference import rules
from reference.backend.kwok.images import is_probe_image
from reference.charts.objects import as_list, dig


class NoRoute(Exception):
    """Traffic for the port reaches nothing; the message says why."""


@dataclass(frozen=True)
class Target:
    container: dict[str, Any]
    container_port: int

    @property
    def container_name(self) -> str:
        return str(self.container.get("name") or "")


def service_port(service: dict[str, Any], port: int) -> dict[str, Any] | None:
    for entry in as_list(dig(service, "spec", "ports")):
        if isinstance(entry, dict) and entry.get("port") == port:
            return entry
    return None


def as_served(service: dict[str, Any], port: int, violate: Collection[str] = frozenset()) -> dict[str, Any]:
    """`service` as traffic for `port` finds it. Under the SVC-PORT-MISMATCH-REFUSED mutant (whose chart
    check is off too) a Service without that port is reached through its first port instead."""
    if rules.SVC_PORT_MISMATCH_REFUSED not in violate or service_port(service, port) is not None:
        return service
    served = copy.deepcopy(service)
    entries = [e for e in as_list(dig(served, "spec", "ports")) if isinstance(e, dict)]
    if entries:
        entries[0].setdefault("targetPort", entries[0].get("port"))
        entries[0]["port"] = port
    return served


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in as_list(dig(pod, "spec", "containers")) if isinstance(c, dict)]


def container_for_port(pod: dict[str, Any], target: int | str, probe_image: str) -> Target:
    containers = _containers(pod)
    pod_name = dig(pod, "metadata", "name")
    if isinstance(target, str) and not target.isdigit():
        for container in containers:
            for port in as_list(container.get("ports")):
                if isinstance(port, dict) and port.get("name") == target and isinstance(port.get("containerPort"), int):
                    return Target(container, port["containerPort"])
        raise NoRoute(f"pod {pod_name} has no container port named '{target}'")
    number = int(target)
    for container in containers:
        for port in as_list(container.get("ports")):
            if isinstance(port, dict) and port.get("containerPort") == number:
                return Target(container, number)
    if len(containers) == 1:
        return Target(containers[0], number)
    for container in containers:
        if is_probe_image(str(container.get("image", "")), probe_image):
            return Target(container, number)
    if containers:
        return Target(containers[0], number)
    raise NoRoute(f"pod {pod_name} has no containers")


def resolve(pod: dict[str, Any], service: dict[str, Any], port: int, probe_image: str) -> Target:
    """The container and container port that `service`'s `port` reaches in `pod`."""
    entry = service_port(service, port)
    if entry is None:
        name = dig(service, "metadata", "name")
        ports = ", ".join(str(p.get("port")) for p in as_list(dig(service, "spec", "ports")) if isinstance(p, dict))
        raise NoRoute(f"Service {name} has no port {port} (it has: {ports or 'none'})")
    target = entry.get("targetPort", port)
    return container_for_port(pod, target if target not in (None, "", 0) else port, probe_image)
