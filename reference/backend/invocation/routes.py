"""The route table both data planes keep: per function version, the local listeners its calls go to.

Whether a pod's container is stood in for by a local probe process (KWOK) or reached through a
port-forward relay (real clusters), a plane ends up with the same thing: for every ready pod behind
the function's Service, a listener on 127.0.0.1. How that listener comes to be differs and stays in
each plane; what is kept here is what does not differ: which instances take an invocation (healthy
ones first, in turn), how a health check's answer becomes an instance's state, and where the gRPC
proxy sends a call for a function id.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

from reference.backend.deploy.health import HealthResult
from reference.backend.invocation.serving import InstanceState
from reference.charts.objects import dig
from reference.ports import DataPlaneError, FunctionVersion

# An instance that was healthy is only called unhealthy after this many failed checks in a row, so
# one slow answer on a busy machine does not flap the function's status.
UNHEALTHY_AFTER = 2


@dataclass
class Instance:
    """One ready pod behind the function's Service, as a data plane tracks it."""

    uid: str
    pod: str  # the pod's name
    node: str | None
    failure: str | None = None  # set once: this pod cannot serve
    healthy: bool = False
    failed_checks: int = 0
    detail: str | None = None

    @property
    def serving_port(self) -> int | None:
        """The local port invocations reach this pod at, or None while nothing listens there for it."""
        raise NotImplementedError

    def record_check(self, result: HealthResult) -> InstanceState:
        """Take a health check's answer into this instance's state (see UNHEALTHY_AFTER)."""
        if result.ok:
            self.healthy, self.failed_checks = True, 0
        else:
            self.failed_checks += 1
            if not self.healthy or self.failed_checks >= UNHEALTHY_AFTER:
                self.healthy = False
        self.detail = f"pod {self.pod}: {result.detail}"
        return InstanceState(self.pod, self.node, "healthy" if self.healthy else "unhealthy", self.detail)


InstanceT = TypeVar("InstanceT", bound=Instance)
T = TypeVar("T")


def serving(instances: Iterable[InstanceT]) -> list[InstanceT]:
    """The instances that take traffic: the healthy ones with a listener, or else all with one.

    One that is up but failing its check still gets traffic rather than none, as a Service keeps
    routing to a pod the kubelet still reports ready.
    """
    up = [i for i in instances if i.serving_port is not None]
    return [i for i in up if i.healthy] or up


def pods_by_uid(pods: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    # The name stands in for a uid only where a test hands over a pod without one.
    return {str(dig(p, "metadata", "uid") or dig(p, "metadata", "name")): p for p in pods}


@dataclass
class Route(Generic[InstanceT]):
    """One function version's instances, keyed by pod uid."""

    function_id: str
    version_id: str
    namespace: str
    instances: dict[str, InstanceT] = field(default_factory=dict)
    # Shared by invocations and gRPC calls, so both spread over the instances in turn.
    counter: itertools.count[int] = field(default_factory=itertools.count)
    # Read by the gRPC proxy from its own thread: replaced whole, under the table's lock.
    grpc_ports: tuple[int, ...] = ()
    grpc_capable: bool = False  # the function is invoked over gRPC at all

    def in_turn(self, items: Sequence[T]) -> T:
        return items[next(self.counter) % len(items)]

    def keep_only(self, uids: Mapping[str, Any]) -> list[InstanceT]:
        """Forget the instances whose pod is no longer among `uids`; returns them, to be stopped."""
        return [self.instances.pop(uid) for uid in list(self.instances) if uid not in uids]

    def pick(self) -> InstanceT:
        """The instance the next invocation goes to (DataPlaneError 503 when none is up)."""
        candidates = serving(self.instances.values())
        if not candidates:
            raise DataPlaneError(503, f"no instance of function {self.function_id} version "
                                      f"{self.version_id} is ready")
        return self.in_turn(candidates)


@dataclass(frozen=True)
class GrpcRoute:
    """Where the gRPC proxy sends a call: `status` ok (with an address), not_found, unavailable or not_grpc."""

    status: Literal["ok", "not_found", "unavailable", "not_grpc"]
    address: str | None = None
    function_id: str | None = None
    version_id: str | None = None


class GrpcRoutes(Protocol):
    """What the gRPC proxy needs of a data plane."""

    def grpc_route(self, function_id: str, version_id: str | None = None) -> GrpcRoute: ...


R = TypeVar("R", bound=Route[Any])


class RouteTable(Generic[R]):
    """A plane's routes by version id. Changed on the event loop; `grpc_route` is called from any thread."""

    def __init__(self) -> None:
        self._routes: dict[str, R] = {}
        # Held while the routes, or what other threads read of one, are replaced; planes take it for
        # what else of a route their own threads read.
        self.lock = threading.Lock()

    def get(self, version_id: str) -> R | None:
        return self._routes.get(version_id)

    def add(self, route: R) -> R:
        with self.lock:
            self._routes[route.version_id] = route
        return route

    def pop(self, version_id: str) -> R | None:
        with self.lock:
            return self._routes.pop(version_id, None)

    def pop_all(self) -> list[R]:
        with self.lock:
            routes, self._routes = list(self._routes.values()), {}
        return routes

    def all(self) -> list[R]:
        return list(self._routes.values())

    def of(self, function: FunctionVersion) -> R:
        """The function version's route (DataPlaneError 503 when it has none)."""
        route = self._routes.get(function.version_id)
        if route is None:
            raise DataPlaneError(503, f"function {function.function_id} version {function.version_id} has no "
                                      "running instance")
        return route

    def publish(self, route: R, grpc_instances: Iterable[Instance], grpc_capable: bool) -> None:
        """Hand the gRPC proxy the listeners of `grpc_instances` that take traffic now."""
        ports = tuple(port for port in (i.serving_port for i in serving(grpc_instances)) if port is not None)
        with self.lock:
            route.grpc_ports = ports
            route.grpc_capable = grpc_capable

    def grpc_route(self, function_id: str, version_id: str | None = None) -> GrpcRoute:
        with self.lock:
            routes = [r for r in self._routes.values() if r.function_id == function_id
                      and (version_id is None or r.version_id == version_id)]
            if not routes:
                return GrpcRoute("not_found")
            for route in routes:
                if route.grpc_ports:
                    port = route.in_turn(route.grpc_ports)
                    return GrpcRoute("ok", f"127.0.0.1:{port}", route.function_id, route.version_id)
            if not any(r.grpc_capable for r in routes):
                return GrpcRoute("not_grpc", None, routes[0].function_id, routes[0].version_id)
            return GrpcRoute("unavailable", None, routes[0].function_id, routes[0].version_id)
