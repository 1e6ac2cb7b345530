"""The data plane for clusters whose pods really run (kind, real clusters): reach them by port-forward.

On such a cluster the function's own containers serve, so nothing has to stand in for them. What
the reference server cannot do is dial a pod: pod IPs are not routable from this machine, and this
project dials 127.0.0.0/8 only. The API server's port-forward (`pods/portforward`, the channel of
`kubectl port-forward`) is the way through:

- `sync(function, namespace, service, pods)`: for each ready pod behind the Service, the Service's
  inference and health ports are followed to container ports (`reference.backend.cluster.service_targets`), and a
  local listener on 127.0.0.1 (`TcpRelay`) relays each accepted connection over a new port-forward
  stream to that container port; the function's health check runs through it;
- `forward()` and the gRPC proxy dial those listeners exactly as they dial the KWOK data plane's
  probe processes;
- a connection whose pod is gone (the API server answers 404) is sent to another ready pod of the
  same function instead, until the next `sync` drops the pod.

On KWOK this works too when the kwok controller serves port-forward for the fake pods (PortForward /
ClusterPortForward rules pointing at a local process), which is how it is tested.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from reference.backend.cluster import service_targets
from reference.backend.deploy import health as health_checks
from reference.backend.invocation.forwarding import ForwardingClient
from reference.backend.invocation.routes import GrpcRoute, Instance, Route, RouteTable, pods_by_uid
from reference.backend.invocation.serving import InstanceState, SyncResult
from reference.backend.portforward.stream import PodPortForwarder, PortForwardError
from reference.backend.portforward.tcp_relay import TcpRelay
from reference.backend.settings import BackendSettings
from reference.charts.objects import dig
from reference.ports import DataPlaneError, ForwardRequest, ForwardResponse, FunctionVersion
from reference.validation import is_grpc_url

log = logging.getLogger("reference.backend.portforward.dataplane")


@dataclass
class _Pod(Instance):
    # `failure` here: the Service leads nowhere in this pod.
    relays: dict[int, TcpRelay] = field(default_factory=dict)  # container port → local listener
    inference_port: int | None = None  # container ports
    health_port: int | None = None
    gone: bool = False  # the API server said the pod no longer exists

    def local_port(self, container_port: int | None) -> int | None:
        relay = self.relays.get(container_port) if container_port is not None else None
        return relay.port if relay is not None and not self.gone else None

    @property
    def serving_port(self) -> int | None:
        return self.local_port(self.inference_port)


@dataclass
class _Route(Route[_Pod]):
    # Read from the relays' threads: replaced whole, under the table's lock.
    candidates: tuple[str, ...] = ()  # names of the pods a connection may fall back to


class PortForwardDataPlane:
    def __init__(self, settings: BackendSettings, configuration: Any) -> None:
        self.settings = settings
        self.forwarder = PodPortForwarder(configuration)
        self._routes: RouteTable[_Route] = RouteTable()
        # No connection is kept for the next request: each one opens its own port-forward stream, so a
        # pod that went away is noticed at once (the API server answers 404 and the relay falls back
        # to another pod). A kept stream can outlive its container unnoticed (kwok 0.8.0 does not end
        # the stream when its target closes), and the next request on it would wait for nothing.
        self._http = ForwardingClient(settings, keep_alive=False)

    # ── DataPlane ─────────────────────────────────────────────────────────────────────────────

    async def forward(self, function: FunctionVersion, request: ForwardRequest) -> ForwardResponse:
        pod = self._routes.of(function).pick()
        port = pod.serving_port
        assert port is not None
        try:
            return await self._http.forward(port, request)
        except httpx.TimeoutException as exc:
            raise DataPlaneError(504, f"pod {pod.pod} did not answer in time through the port-forward: "
                                      f"{type(exc).__name__}") from None
        except httpx.HTTPError as exc:
            relay = pod.relays.get(pod.inference_port or 0)
            why = f" ({relay.last_error})" if relay is not None and relay.last_error else ""
            raise DataPlaneError(502, f"pod {pod.pod} could not be reached through the port-forward: "
                                      f"{type(exc).__name__}: {exc}{why}") from None

    # ── the gRPC proxy's view (any thread) ────────────────────────────────────────────────────

    def grpc_route(self, function_id: str, version_id: str | None = None) -> GrpcRoute:
        return self._routes.grpc_route(function_id, version_id)

    # ── ServingPlane ──────────────────────────────────────────────────────────────────────────

    async def sync(self, function: FunctionVersion, namespace: str, service: dict[str, Any],
                   pods: Sequence[dict[str, Any]]) -> SyncResult:
        route = self._routes.get(function.version_id) or self._routes.add(_Route(
            function.function_id, function.version_id, namespace,
            grpc_capable=is_grpc_url(function.inference_url, self.settings.violate)))
        wanted = pods_by_uid(pods)
        gone = route.keep_only(wanted)
        for uid, pod in wanted.items():
            if uid not in route.instances:
                route.instances[uid] = self._create(function, route, service, pod, uid)
        self._publish(route)
        await self._close(gone)
        states = await asyncio.gather(*(self._refresh(function, p) for p in route.instances.values()))
        self._publish(route)
        return SyncResult(tuple(states))

    async def release(self, version_id: str) -> None:
        route = self._routes.pop(version_id)
        if route is not None:
            await self._close(list(route.instances.values()))

    async def close(self) -> None:
        await self._close([p for r in self._routes.pop_all() for p in r.instances.values()])
        await self._http.aclose()

    def stop_all_now(self) -> None:
        """Blocking last resort: close every listener (no process runs for this plane)."""
        for route in self._routes.all():
            for pod in route.instances.values():
                for relay in pod.relays.values():
                    relay.close()

    def listeners(self) -> list[str]:
        """Addresses of the local listeners still open (for tests and diagnostics)."""
        return [r.address for route in self._routes.all() for p in route.instances.values()
                for r in p.relays.values()]

    # ── instances ─────────────────────────────────────────────────────────────────────────────

    def _create(self, function: FunctionVersion, route: _Route, service: dict[str, Any], pod: dict[str, Any],
                uid: str) -> _Pod:
        name = str(dig(pod, "metadata", "name") or uid)
        entry = _Pod(uid=uid, pod=name, node=dig(pod, "spec", "nodeName"))
        image = self.settings.probe_image
        try:
            entry.inference_port = service_targets.resolve(pod, service, function.inference_port, image).container_port
            health_port = int(function.health.get("port") or function.inference_port)
            if service_targets.service_port(service, health_port) is not None:
                entry.health_port = service_targets.resolve(pod, service, health_port, image).container_port
            else:  # not a Service port: a port of the serving container itself, as for container functions
                entry.health_port = health_port
        except service_targets.NoRoute as exc:
            entry.failure = str(exc)
            return entry
        for port in {entry.inference_port, entry.health_port}:
            entry.relays[port] = TcpRelay(self._connector(route, entry, port),
                                          name=f"{route.namespace}/{name}:{port}").start()
        log.info("pod %s/%s: port-forward listeners %s", route.namespace, name,
                 ", ".join(f"{p} → {r.address}" for p, r in entry.relays.items()))
        return entry

    def _connector(self, route: _Route, pod: _Pod, port: int) -> Any:
        def connect() -> Any:
            # The relay's thread: this pod first, then any other the Service still routes to.
            with self._routes.lock:
                others = [n for n in route.candidates if n != pod.pod]
            try:
                return self.forwarder.open(route.namespace, pod.pod, port)
            except PortForwardError as exc:
                if not exc.pod_gone:
                    raise
                pod.gone = True
                log.info("pod %s/%s is gone; trying another ready pod", route.namespace, pod.pod)
                first = exc
            for other in others:
                try:
                    return self.forwarder.open(route.namespace, other, port)
                except PortForwardError as exc:
                    if not exc.pod_gone:
                        raise
            raise first

        return connect

    async def _refresh(self, function: FunctionVersion, pod: _Pod) -> InstanceState:
        if pod.failure is not None:
            return InstanceState(pod.pod, pod.node, "failed", pod.failure)
        return pod.record_check(await self._check(function, pod))

    async def _check(self, function: FunctionVersion, pod: _Pod) -> health_checks.HealthResult:
        port = pod.local_port(pod.health_port)
        if port is None:
            return health_checks.HealthResult(False, "the pod is gone" if pod.gone else "the health port has no "
                                                                                        "listener")
        timeout = min(health_checks.seconds(str(function.health.get("timeout") or "PT10S")), 5.0)
        if function.health.get("protocol") == "gRPC":
            result = await health_checks.check_grpc(port, timeout)
        else:
            result = await health_checks.check_http(self._http.client(), port, function.health, timeout)
        relay = pod.relays.get(pod.health_port or 0)
        if not result.ok and relay is not None and relay.last_error:
            return health_checks.HealthResult(False, f"{result.detail} ({relay.last_error})")
        return result

    def _publish(self, route: _Route) -> None:
        # Whether the function is gRPC is its inferenceUrl's to say, not what the pods listen on.
        grpc = route.instances.values() if route.grpc_capable else ()
        self._routes.publish(route, grpc, grpc_capable=route.grpc_capable)
        candidates = tuple(p.pod for p in route.instances.values() if p.failure is None and not p.gone)
        with self._routes.lock:
            route.candidates = candidates

    async def _close(self, pods: Sequence[_Pod]) -> None:
        relays = [r for p in pods for r in p.relays.values()]
        await asyncio.gather(*(asyncio.to_thread(r.close) for r in relays))
