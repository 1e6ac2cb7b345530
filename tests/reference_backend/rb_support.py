"""Helpers for the back-half tests: function versions for sample charts, and following a deploy."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc

from conformance.charts.cases import Case
from conformance.charts.push import PushedChart
from reference.backend.invocation.routes import GrpcRoute
from reference.ports import Deployer, Deployment, DeploymentSpec, DeploymentUpdate, FunctionVersion

TERMINAL = frozenset({"ACTIVE", "ERROR"})


@dataclass(frozen=True)
class Chart:
    case: Case
    pushed: PushedChart

    @property
    def url(self) -> str:
        return self.pushed.helm_chart


def function_for(chart: Chart, **changes: Any) -> FunctionVersion:
    facts = chart.case.function
    grpc = facts.inference_url.strip("/").lower() == "grpc"
    fields: dict[str, Any] = {
        "function_id": str(uuid.uuid4()),
        "version_id": str(uuid.uuid4()),
        "name": f"rb-{chart.case.id}",
        "inference_url": facts.inference_url,
        "inference_port": facts.inference_port,
        "health": {"protocol": "gRPC" if grpc else "HTTP", "uri": "/v2/health/ready", "port": facts.inference_port,
                   "timeout": "PT10S", "expectedStatusCode": 200},
        "helm_chart": chart.url,
        "helm_chart_service_name": facts.helm_chart_service_name,
    }
    fields.update(changes)
    return FunctionVersion(**fields)


def deployment_for(function: FunctionVersion, instance_type: str = "DGXC.GPU.L40S_1x",
                   configuration: Mapping[str, Any] | None = None) -> Deployment:
    gpu = instance_type.split(".GPU.", 1)[1].rsplit("_", 1)[0]
    spec = DeploymentSpec(gpu=gpu, instance_type=instance_type, min_instances=1, max_instances=1,
                          configuration=configuration, raw={"gpu": gpu, "instanceType": instance_type})
    return Deployment(str(uuid.uuid4()), function.function_id, function.version_id, (spec,))


@dataclass
class Progress:
    """Reads a deploy() iterator in the background, the way the server's lifecycle does."""

    deployer: Deployer
    function: FunctionVersion
    deployment: Deployment
    resumed: bool = False
    updates: list[tuple[float, DeploymentUpdate]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self._changed = asyncio.Condition()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        progress: AsyncIterator[DeploymentUpdate] = self.deployer.deploy(
            self.function, self.deployment, resumed=self.resumed)
        try:
            async for update in progress:
                async with self._changed:
                    self.updates.append((time.monotonic() - self.started, update))
                    self._changed.notify_all()
                if update.status == "ERROR":
                    break
        finally:
            closer = getattr(progress, "aclose", None)
            if closer is not None:
                await closer()
            async with self._changed:  # wake waiters so they see the end
                self._changed.notify_all()

    async def until(self, *statuses: str, timeout: float = 30.0, after: int = 0) -> DeploymentUpdate:
        """The first update (from index `after`) whose status is one of `statuses`."""
        async def wait() -> DeploymentUpdate:
            async with self._changed:
                while True:
                    for _, update in self.updates[after:]:
                        if update.status in statuses:
                            return update
                    if self._task.done():
                        raise AssertionError(f"deploy() ended without {statuses}: {self.statuses()}")
                    await self._changed.wait()
        return await asyncio.wait_for(wait(), timeout)

    async def settle(self, timeout: float = 30.0) -> DeploymentUpdate:
        return await self.until(*TERMINAL, timeout=timeout)

    def statuses(self) -> list[str]:
        return [u.status for _, u in self.updates]

    def time_of(self, status: str) -> float:
        return next(t for t, u in self.updates if u.status == status)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too: it only waits to be reaped.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# ── gRPC proxy tests: the function behind the proxy and the data plane's routing table ────────────


class RecordingUpstream(grpc.GenericRpcHandler):
    """A function's gRPC listener: answers every unary call with `reply:<request>` and records
    (method, metadata) of each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []

    @property
    def seen(self) -> list[dict[str, str]]:
        """The metadata of every call, in order."""
        return [metadata for _, metadata in self.calls]

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method = handler_call_details.method

        async def unary(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            self.calls.append((method, {k: str(v) for k, v in context.invocation_metadata() or ()}))
            return b"reply:" + request

        return grpc.unary_unary_rpc_method_handler(unary)


class FunctionRoutes:
    """A routing table with one gRPC function `f` at `address`: its `versions` route, a call without a
    version goes to the last one, anything else is not found; `asked` records every lookup."""

    def __init__(self, address: str, versions: tuple[str, ...] = ("v1",)) -> None:
        self.address = address
        self.versions = versions
        self.asked: list[tuple[str, str | None]] = []

    def grpc_route(self, function_id: str, version_id: str | None = None) -> GrpcRoute:
        self.asked.append((function_id, version_id))
        if function_id != "f" or version_id not in (None, *self.versions):
            return GrpcRoute("not_found")
        return GrpcRoute("ok", self.address, "f", version_id or self.versions[-1])
