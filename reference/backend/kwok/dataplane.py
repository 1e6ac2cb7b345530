"""The KWOK data plane: a local mini-service process for every ready pod the function's Service selects.

KWOK runs no containers, so this is where a function's instances really run. For each pod that KWOK
reports ready behind the mini-service Service, the pod's serving container (the one the Service's
inference port reaches) is started as a probe process on 127.0.0.1 with what its pod spec gives it
(see `probes`). Invocations for the function go to those processes, at the listener the Service port
leads to; nothing ever dials a pod IP. A serving container whose image is not the probe cannot be
stood in for, and the deployment says so instead of pretending. Nor is a pod started whose image
the kubelet could not pull: one from a registry the reference holds credentials for, with no pull
secret for that registry (see `images.pull_problem`).

Every probe started is recorded under the state folder until it is stopped; a data plane starting on
that folder first stops what an earlier one left running (a server killed outright, or a plane dropped
without `close`), so no probe outlives its function. One data plane uses a state folder at a time.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import shutil
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from reference import rules
from reference.backend.cluster import service_targets
from reference.backend.deploy import health as health_checks
from reference.backend.invocation.forwarding import ForwardingClient
from reference.backend.invocation.routes import GrpcRoute, Instance, Route, RouteTable, pods_by_uid
from reference.backend.invocation.serving import InstanceState, SyncResult
from reference.backend.kwok import images
from reference.backend.kwok.podenv import ObjectSource
from reference.backend.kwok.probes import (
    ProbeLaunch,
    ProbeModules,
    ProbeProcess,
    ProbeRecords,
    ProbeUnavailable,
    build_launch,
    load_probe_modules,
)
from reference.backend.settings import BackendSettings
from reference.charts.objects import dig
from reference.ports import DataPlaneError, ForwardRequest, ForwardResponse, FunctionVersion

log = logging.getLogger("reference.backend.kwok.dataplane")
Listener = Literal["http", "grpc"]
MAX_RESTART_BACKOFF = 30.0
# A leftover probe gets this long to stop on SIGTERM before it is killed; it delays the server's start.
LEFTOVER_GRACE = 5.0
# Under the probes' folder; a dot name no namespace folder can have (namespaces are DNS labels).
RECORDS_FOLDER = ".pids"


@dataclass
class _Instance(Instance):
    process: ProbeProcess | None = None
    inference: Listener | None = None
    health: Listener | None = None
    ever_up: bool = False
    restart_at: float = 0.0
    backoff: float = 1.0

    def local_port(self, listener: Listener | None) -> int | None:
        if self.process is None or self.process.state != "up" or listener is None:
            return None
        return self.process.http_port if listener == "http" else self.process.grpc_port

    @property
    def serving_port(self) -> int | None:
        return self.local_port(self.inference)


class LocalProbeDataPlane:
    def __init__(self, settings: BackendSettings, objects: ObjectSource) -> None:
        self.settings = settings
        self.objects = objects
        self._routes: RouteTable[Route[_Instance]] = RouteTable()
        self._modules: ProbeModules | None = None
        self._http = ForwardingClient(settings)
        self._workdir = settings.workdir / "probes"
        # The registries whose images need a pull secret: the ones the reference has credentials for.
        self._private_registries = frozenset(a.registry.lower() for a in settings.registry_auth)
        self.records = ProbeRecords(self._workdir / RECORDS_FOLDER)
        self._stop_leftovers()
        _live_planes.add(self)

    def _stop_leftovers(self) -> None:
        stopped = self.records.sweep(LEFTOVER_GRACE)
        if stopped:
            log.warning("stopped %d mini-service process(es) an earlier run left behind (pids %s)",
                        len(stopped), ", ".join(map(str, stopped)))

    # ── DataPlane ─────────────────────────────────────────────────────────────────────────────

    async def forward(self, function: FunctionVersion, request: ForwardRequest) -> ForwardResponse:
        instance = self._routes.of(function).pick()
        port = instance.serving_port
        assert port is not None
        try:
            return await self._http.forward(port, request)
        except httpx.TimeoutException as exc:
            raise DataPlaneError(504, f"the mini-service of pod {instance.pod} did not answer in time: "
                                      f"{type(exc).__name__}") from None
        except httpx.HTTPError as exc:
            raise DataPlaneError(502, f"the mini-service of pod {instance.pod} could not be reached: "
                                      f"{type(exc).__name__}: {exc}") from None

    # ── the gRPC proxy's view (any thread) ────────────────────────────────────────────────────

    def grpc_route(self, function_id: str, version_id: str | None = None) -> GrpcRoute:
        return self._routes.grpc_route(function_id, version_id)

    # ── ServingPlane ──────────────────────────────────────────────────────────────────────────

    async def sync(self, function: FunctionVersion, namespace: str, service: dict[str, Any],
                   pods: Sequence[dict[str, Any]]) -> SyncResult:
        route = self._routes.get(function.version_id) or self._routes.add(
            Route(function.function_id, function.version_id, namespace))
        wanted = pods_by_uid(pods)
        await self._stop(route.keep_only(wanted))
        for uid, pod in wanted.items():
            if uid not in route.instances:
                route.instances[uid] = await self._create(function, service, pod, uid)
        states = [await self._refresh(function, inst) for inst in route.instances.values()]
        self._publish(route)
        return SyncResult(tuple(states))

    async def release(self, version_id: str) -> None:
        route = self._routes.pop(version_id)
        if route is not None:
            await self._stop(list(route.instances.values()))
            # Also what instances that never started left (materialised values of a refused pod).
            shutil.rmtree(self._workdir / route.namespace, ignore_errors=True)

    async def close(self) -> None:
        await self._stop([i for r in self._routes.pop_all() for i in r.instances.values()])
        await self._http.aclose()

    def running_pids(self) -> list[int]:
        """Pids of the probe processes still running (for tests and diagnostics)."""
        return [i.process.pid for r in self._routes.all() for i in r.instances.values()
                if i.process is not None and i.process.pid is not None and i.process.returncode is None
                and i.process.state != "exited"]

    # ── instances ─────────────────────────────────────────────────────────────────────────────

    def modules(self) -> ProbeModules:
        if self._modules is None:
            self._modules = load_probe_modules()
        return self._modules

    async def _create(self, function: FunctionVersion, service: dict[str, Any], pod: dict[str, Any], uid: str
                      ) -> _Instance:
        name = str(dig(pod, "metadata", "name") or uid)
        inst = _Instance(uid=uid, pod=name, node=dig(pod, "spec", "nodeName"))
        image = self.settings.probe_image
        unpulled = await images.pull_problem(pod, self.objects, self._private_registries)
        if unpulled is not None:
            inst.failure = unpulled
            return inst
        try:
            target = service_targets.resolve(pod, service, function.inference_port, image)
            launch = await build_launch(
                pod, target.container, self.objects, probe_image=image, modules=self.modules(),
                workdir=self._workdir / str(dig(pod, "metadata", "namespace")) / f"{name}-{uid[:8]}",
            )
            inst.inference = self._listener(launch, target.container_port, f"Service port {function.inference_port}")
            inst.health = self._health_listener(function, service, pod, target, launch)
        except (service_targets.NoRoute, ProbeUnavailable) as exc:
            inst.failure = str(exc)
            return inst
        inst.process = ProbeProcess(launch, self.modules(), self.settings.probe_python, records=self.records)
        inst.process.start()
        log.info("started the mini-service for pod %s/%s (pid %s)", launch.namespace, name, inst.process.pid)
        return inst

    @staticmethod
    def _listener(launch: ProbeLaunch, container_port: int, what: str) -> Listener:
        if launch.pod_http_port and container_port == launch.pod_http_port:
            return "http"
        if launch.pod_grpc_port and container_port == launch.pod_grpc_port:
            return "grpc"
        listening = ", ".join(f"{kind} {port}" for kind, port in
                              (("http", launch.pod_http_port), ("grpc", launch.pod_grpc_port)) if port) or "nothing"
        raise ProbeUnavailable(
            f"{what} reaches container port {container_port} of pod {launch.pod} (container {launch.container}), "
            f"where the mini-service does not listen (it listens on {listening})"
        )

    def _health_listener(self, function: FunctionVersion, service: dict[str, Any], pod: dict[str, Any],
                         serving: service_targets.Target, launch: ProbeLaunch) -> Listener:
        port = int(function.health.get("port") or function.inference_port)
        if service_targets.service_port(service, port) is not None:
            target = service_targets.resolve(pod, service, port, self.settings.probe_image)
            if target.container_name != serving.container_name:
                raise ProbeUnavailable(f"the health port {port} reaches container {target.container_name} of pod "
                                       f"{launch.pod}, not the mini-service container {serving.container_name}")
            return self._listener(launch, target.container_port, f"health port {port}")
        # Not a Service port: a port of the serving container itself, as for container functions.
        return self._listener(launch, port, f"health port {port}")

    async def _refresh(self, function: FunctionVersion, inst: _Instance) -> InstanceState:
        if inst.failure is not None or inst.process is None:
            return InstanceState(inst.pod, inst.node, "failed", inst.failure)
        proc = inst.process
        state = proc.poll()
        if state == "starting":
            waited = time.monotonic() - proc.started_at
            if waited > self.settings.probe_start_timeout:
                await asyncio.to_thread(proc.stop)
                inst.failure = (f"the mini-service of pod {inst.pod} did not start within "
                                f"{self.settings.probe_start_timeout:g} s: {proc.last_error() or 'no output'}")
                return InstanceState(inst.pod, inst.node, "failed", inst.failure)
            return InstanceState(inst.pod, inst.node, "starting", f"the mini-service of pod {inst.pod} is starting")
        if state == "exited":
            inst.healthy = False
            if not inst.ever_up:
                # It never came up: the container would be crash-looping. That is the deployment's error.
                inst.failure = proc.failure()
                return InstanceState(inst.pod, inst.node, "failed", inst.failure)
            # It served before: restart it, with a growing pause, as the kubelet would.
            now = time.monotonic()
            if inst.restart_at == 0.0:
                inst.restart_at = now + inst.backoff
                inst.detail = proc.failure()
                log.warning("%s; restarting in %g s", inst.detail, inst.backoff)
            elif now >= inst.restart_at:
                inst.backoff = min(inst.backoff * 2, MAX_RESTART_BACKOFF)
                inst.restart_at = 0.0
                await asyncio.to_thread(proc.stop)
                proc.restart()
            return InstanceState(inst.pod, inst.node, "unhealthy", inst.detail)
        inst.ever_up = True
        result = await self._check(function, inst)
        if result.ok:
            inst.backoff = 1.0  # it serves again: a later crash starts over from a short pause
        return inst.record_check(result)

    async def _check(self, function: FunctionVersion, inst: _Instance) -> health_checks.HealthResult:
        port = inst.local_port(inst.health)
        if port is None:
            return health_checks.HealthResult(False, "the health port has no listener")
        timeout = min(health_checks.seconds(str(function.health.get("timeout") or "PT10S")), 5.0)
        if function.health.get("protocol") == "gRPC":
            any_answer = rules.GRPC_HEALTH_GATES_ACTIVE in self.settings.violate
            return await health_checks.check_grpc(port, timeout, any_status=any_answer)
        return await health_checks.check_http(self._http.client(), port, function.health, timeout)

    def _publish(self, route: Route[_Instance]) -> None:
        # A function is gRPC-capable when a pod's inference port reaches the probe's gRPC listener.
        grpc = [i for i in route.instances.values() if i.inference == "grpc"]
        self._routes.publish(route, grpc, grpc_capable=bool(grpc))

    async def _stop(self, instances: Sequence[_Instance]) -> None:
        procs = [i.process for i in instances if i.process is not None]
        await asyncio.gather(*(asyncio.to_thread(p.stop) for p in procs))
        for proc in procs:
            log.info("stopped the mini-service of pod %s/%s (pid %s, status %s)", proc.launch.namespace,
                     proc.launch.pod, proc.pid, proc.returncode)
            proc.remove_files()

    def stop_all_now(self) -> None:
        """Blocking last resort (interpreter exit): stop every process by pid."""
        for route in self._routes.all():
            for inst in route.instances.values():
                if inst.process is not None:
                    inst.process.stop(grace=2.0)


_live_planes: weakref.WeakSet[LocalProbeDataPlane] = weakref.WeakSet()


@atexit.register
def _stop_leftovers() -> None:
    for plane in list(_live_planes):
        plane.stop_all_now()
