"""The data plane for clusters whose pods really run (kind, real clusters): reach them by port-forward.

On such a cluster the function's own containers serve, so nothing has to stand in for them. What
the reference server cannot do is dial a pod: pod IPs are not routable from this machine, and this
project dials 127.0.0.0/8 only. The API server's port-forward (`pods/portforward`, the channel of
`kubectl port-forward`) is the way through:

- `sync(function, namespace, service, pods)`: for each ready pod behind the Service, the Service's
  inference and health ports are followed to container ports (`reference.backend.routing`), and a
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
import itertools
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from reference.backend import health as health_checks
from reference.backend import routing
from reference.backend.dataplane import UNHEALTHY_AFTER, GrpcRoute
from reference.backend.pod_port_forward import PodPortForwarder, PortForwardError
from reference.backend.serving import InstanceState, SyncResult
from reference.backend.settings import BackendSettings
from reference.backend.tcp_relay import TcpRelay
from reference.charts.objects import dig
from reference.ports import DataPlaneError, ForwardRequest, ForwardResponse, FunctionVersion
from reference.validation import is_grpc_url

log = logging.getLogger("reference.backend.port_forward")


@dataclass
class _Pod:
    uid: str
    name: str
    node: str | None
    relays: dict[int, TcpRelay] = field(default_factory=dict)  # container port → local listener
    inference_port: int | None = None  # container ports
    health_port: int | None = None
    failure: str | None = None  # set once: the Service leads nowhere in this pod
    gone: bool = False  # the API server said the pod no longer exists
    healthy: bool = False
    failed_checks: int = 0
    detail: str | None = None

    def local_port(self, container_port: int | None) -> int | None:
        relay = self.relays.get(container_port) if container_port is not None else None
        return relay.port if relay is not None and not self.gone else None


@dataclass
class _Route:
    function_id: str
    version_id: str
    namespace: str
    grpc: bool  # the function is invoked over gRPC (inferenceUrl /gRPC)
    pods: dict[str, _Pod] = field(default_factory=dict)
    counter: itertools.count[int] = field(default_factory=itertools.count)
    # Read from the relays' and the gRPC proxy's threads: replaced whole, under the plane's lock.
    grpc_ports: tuple[int, ...] = ()
    candidates: tuple[str, ...] = ()  # names of the pods a connection may fall back to


class PortForwardDataPlane:
    def __init__(self, settings: BackendSettings, configuration: Any) -> None:
        self.settings = settings
        self.forwarder = PodPortForwarder(configuration)
        self._routes: dict[str, _Route] = {}
        self._lock = threading.Lock()
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    # ── DataPlane ─────────────────────────────────────────────────────────────────────────────

    async def forward(self, function: FunctionVersion, request: ForwardRequest) -> ForwardResponse:
        pod, port = self._pick(function)
        url = f"http://127.0.0.1:{port}{request.path or '/'}" + (f"?{request.query}" if request.query else "")
        client = self._http_client()
        outgoing = client.build_request(request.method, url, headers=list(request.headers), content=request.body,
                                        timeout=self._forward_timeout())
        try:
            reply = await client.send(outgoing, stream=True)
            try:
                # Raw bytes: the caller gets the body exactly as the function encoded it.
                body = b"".join([chunk async for chunk in reply.aiter_raw()])
            finally:
                await reply.aclose()
        except httpx.TimeoutException as exc:
            raise DataPlaneError(504, f"pod {pod.name} did not answer in time through the port-forward: "
                                      f"{type(exc).__name__}") from None
        except httpx.HTTPError as exc:
            relay = pod.relays.get(pod.inference_port or 0)
            why = f" ({relay.last_error})" if relay is not None and relay.last_error else ""
            raise DataPlaneError(502, f"pod {pod.name} could not be reached through the port-forward: "
                                      f"{type(exc).__name__}: {exc}{why}") from None
        return ForwardResponse(reply.status_code, tuple(reply.headers.multi_items()), body)

    def _forward_timeout(self) -> httpx.Timeout:
        s = self.settings
        return httpx.Timeout(connect=s.forward_connect_timeout, read=s.forward_read_timeout, write=60.0, pool=10.0)

    def _pick(self, function: FunctionVersion) -> tuple[_Pod, int]:
        route = self._routes.get(function.version_id)
        if route is None:
            raise DataPlaneError(503, f"function {function.function_id} version {function.version_id} has no "
                                      "running instance")
        up = [p for p in route.pods.values() if p.local_port(p.inference_port) is not None]
        # Healthy pods first; one failing its check still gets traffic rather than none, as a Service
        # keeps routing to a pod the kubelet reports ready.
        candidates = [p for p in up if p.healthy] or up
        if not candidates:
            raise DataPlaneError(503, f"no instance of function {function.function_id} version "
                                      f"{function.version_id} is ready")
        pod = candidates[next(route.counter) % len(candidates)]
        port = pod.local_port(pod.inference_port)
        assert port is not None
        return pod, port

    def _http_client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            # No connection is kept for the next request: each one opens its own port-forward stream, so a
            # pod that went away is noticed at once (the API server answers 404 and the relay falls back
            # to another pod). A kept stream can outlive its container unnoticed (kwok 0.8.0 does not end
            # the stream when its target closes), and the next request on it would wait for nothing.
            client = httpx.AsyncClient(timeout=self._forward_timeout(), follow_redirects=False, trust_env=False,
                                       limits=httpx.Limits(max_keepalive_connections=0))
            # The function gets the caller's headers, not httpx's defaults on top of them.
            for name in ("accept", "accept-encoding", "user-agent"):
                client.headers.pop(name, None)
            self._client = client
            self._client_loop = loop
        return self._client

    # ── the gRPC proxy's view (any thread) ────────────────────────────────────────────────────

    def grpc_route(self, function_id: str, version_id: str | None = None) -> GrpcRoute:
        with self._lock:
            routes = [r for r in self._routes.values() if r.function_id == function_id
                      and (version_id is None or r.version_id == version_id)]
            if not routes:
                return GrpcRoute("not_found")
            for route in routes:
                if route.grpc_ports:
                    port = route.grpc_ports[next(route.counter) % len(route.grpc_ports)]
                    return GrpcRoute("ok", f"127.0.0.1:{port}", route.function_id, route.version_id)
            if not any(r.grpc for r in routes):
                return GrpcRoute("not_grpc", None, routes[0].function_id, routes[0].version_id)
            return GrpcRoute("unavailable", None, routes[0].function_id, routes[0].version_id)

    # ── ServingPlane ──────────────────────────────────────────────────────────────────────────

    async def sync(self, function: FunctionVersion, namespace: str, service: dict[str, Any],
                   pods: Sequence[dict[str, Any]]) -> SyncResult:
        route = self._routes.get(function.version_id)
        if route is None:
            route = _Route(function.function_id, function.version_id, namespace,
                           grpc=is_grpc_url(function.inference_url, self.settings.violate))
            with self._lock:
                self._routes[function.version_id] = route
        wanted = {str(dig(p, "metadata", "uid") or dig(p, "metadata", "name")): p for p in pods}
        gone = [route.pods.pop(uid) for uid in list(route.pods) if uid not in wanted]
        for uid, pod in wanted.items():
            if uid not in route.pods:
                route.pods[uid] = self._create(function, route, service, pod, uid)
        self._publish(route)
        await self._close(gone)
        states = await asyncio.gather(*(self._refresh(function, p) for p in route.pods.values()))
        self._publish(route)
        return SyncResult(tuple(states))

    async def release(self, version_id: str) -> None:
        with self._lock:
            route = self._routes.pop(version_id, None)
        if route is not None:
            await self._close(list(route.pods.values()))

    async def close(self) -> None:
        with self._lock:
            routes, self._routes = list(self._routes.values()), {}
        await self._close([p for r in routes for p in r.pods.values()])
        client, self._client = self._client, None
        if client is not None and self._client_loop is asyncio.get_running_loop():
            await client.aclose()

    def stop_all_now(self) -> None:
        """Blocking last resort: close every listener (no process runs for this plane)."""
        for route in list(self._routes.values()):
            for pod in route.pods.values():
                for relay in pod.relays.values():
                    relay.close()

    def listeners(self) -> list[str]:
        """Addresses of the local listeners still open (for tests and diagnostics)."""
        return [r.address for route in list(self._routes.values()) for p in route.pods.values()
                for r in p.relays.values()]

    # ── instances ─────────────────────────────────────────────────────────────────────────────

    def _create(self, function: FunctionVersion, route: _Route, service: dict[str, Any], pod: dict[str, Any],
                uid: str) -> _Pod:
        name = str(dig(pod, "metadata", "name") or uid)
        entry = _Pod(uid=uid, name=name, node=dig(pod, "spec", "nodeName"))
        image = self.settings.probe_image
        try:
            entry.inference_port = routing.resolve(pod, service, function.inference_port, image).container_port
            health_port = int(function.health.get("port") or function.inference_port)
            if routing.service_port(service, health_port) is not None:
                entry.health_port = routing.resolve(pod, service, health_port, image).container_port
            else:  # not a Service port: a port of the serving container itself, as for container functions
                entry.health_port = health_port
        except routing.NoRoute as exc:
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
            with self._lock:
                others = [n for n in route.candidates if n != pod.name]
            try:
                return self.forwarder.open(route.namespace, pod.name, port)
            except PortForwardError as exc:
                if not exc.pod_gone:
                    raise
                pod.gone = True
                log.info("pod %s/%s is gone; trying another ready pod", route.namespace, pod.name)
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
            return InstanceState(pod.name, pod.node, "failed", pod.failure)
        result = await self._check(function, pod)
        if result.ok:
            pod.healthy, pod.failed_checks = True, 0
        else:
            pod.failed_checks += 1
            if not pod.healthy or pod.failed_checks >= UNHEALTHY_AFTER:
                pod.healthy = False
        pod.detail = f"pod {pod.name}: {result.detail}"
        return InstanceState(pod.name, pod.node, "healthy" if pod.healthy else "unhealthy", pod.detail)

    async def _check(self, function: FunctionVersion, pod: _Pod) -> health_checks.HealthResult:
        port = pod.local_port(pod.health_port)
        if port is None:
            return health_checks.HealthResult(False, "the pod is gone" if pod.gone else "the health port has no "
                                                                                        "listener")
        timeout = min(health_checks.seconds(str(function.health.get("timeout") or "PT10S")), 5.0)
        if function.health.get("protocol") == "gRPC":
            result = await health_checks.check_grpc(port, timeout)
        else:
            result = await health_checks.check_http(self._http_client(), port, function.health, timeout)
        relay = pod.relays.get(pod.health_port or 0)
        if not result.ok and relay is not None and relay.last_error:
            return health_checks.HealthResult(False, f"{result.detail} ({relay.last_error})")
        return result

    def _publish(self, route: _Route) -> None:
        up = [p for p in route.pods.values() if route.grpc and p.local_port(p.inference_port) is not None]
        ports = tuple(p.local_port(p.inference_port) for p in ([p for p in up if p.healthy] or up))
        candidates = tuple(p.name for p in route.pods.values() if p.failure is None and not p.gone)
        with self._lock:
            route.grpc_ports = tuple(port for port in ports if port is not None)
            route.candidates = candidates

    async def _close(self, pods: Sequence[_Pod]) -> None:
        relays = [r for p in pods for r in p.relays.values()]
        await asyncio.gather(*(asyncio.to_thread(r.close) for r in relays))
