"""The function's health check, as NVCF runs it against an instance: HTTP `health.uri` or gRPC health."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

_DURATION = re.compile(r"^PT(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?$", re.I)


@dataclass(frozen=True)
class HealthResult:
    ok: bool
    detail: str  # what was asked and what came back, for an error reason


def seconds(duration: str, default: float = 10.0) -> float:
    match = _DURATION.match(duration.strip()) if isinstance(duration, str) else None
    if match is None or not any(match.groupdict().values()):
        return default
    return float(match["h"] or 0) * 3600 + float(match["m"] or 0) * 60 + float(match["s"] or 0)


async def check_http(client: httpx.AsyncClient, port: int, health: Mapping[str, Any], timeout: float) -> HealthResult:
    uri = str(health.get("uri") or "/")
    if not uri.startswith("/"):
        uri = "/" + uri
    expected = int(health.get("expectedStatusCode") or 200)
    what = f"health check GET {uri}"
    try:
        reply = await client.get(f"http://127.0.0.1:{port}{uri}", timeout=timeout)
    except httpx.TimeoutException:
        return HealthResult(False, f"{what} did not answer within {timeout:g} s")
    except httpx.HTTPError as exc:
        return HealthResult(False, f"{what} failed: {type(exc).__name__}: {exc}")
    if reply.status_code != expected:
        return HealthResult(False, f"{what} answered {reply.status_code} (expected {expected})")
    return HealthResult(True, f"{what} answered {reply.status_code}")


async def check_grpc(port: int, timeout: float, service: str = "", *, any_status: bool = False) -> HealthResult:
    """Healthy when the service answers SERVING (`any_status`: when it answers at all, for a mutant)."""
    what = f"gRPC health check{f' of {service}' if service else ''}"
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            return HealthResult(False, f"{what} failed: {exc.code().name}: {exc.details()}")
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    serving = reply.status == health_pb2.HealthCheckResponse.SERVING
    return HealthResult(serving or any_status, f"{what} answered {status}")
