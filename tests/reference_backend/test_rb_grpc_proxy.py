"""The gRPC proxy's refusals, against a stand-in for the data plane's routing table (no cluster)."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from reference.backend.invocation.grpc_proxy import GrpcProxy
from reference.backend.invocation.routes import GrpcRoute


class _Routes:
    def __init__(self, routes: dict[str, GrpcRoute]) -> None:
        self.routes = routes
        self.asked: list[tuple[str, str | None]] = []

    def grpc_route(self, function_id: str, version_id: str | None = None) -> GrpcRoute:
        self.asked.append((function_id, version_id))
        return self.routes.get(function_id, GrpcRoute("not_found"))


async def _call(port: int, metadata: tuple[tuple[str, str], ...]) -> grpc.aio.AioRpcError:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary("/inference.GRPCInferenceService/ServerLive")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call(b"", metadata=metadata, timeout=5)
    return refused.value


@pytest.mark.parametrize(
    ("metadata", "code", "words"),
    [
        ((), grpc.StatusCode.INVALID_ARGUMENT, "function-id"),
        ((("function-id", "nobody"),), grpc.StatusCode.NOT_FOUND, "function nobody is not deployed"),
        ((("function-id", "starting"),), grpc.StatusCode.UNAVAILABLE, "no instance"),
        ((("function-id", "http-only"),), grpc.StatusCode.FAILED_PRECONDITION, "does not serve gRPC"),
        ((("function-id", "gone"), ("function-version-id", "v9")), grpc.StatusCode.UNAVAILABLE, "version v9"),
    ],
)
def test_calls_that_cannot_be_routed_are_refused_with_a_status_that_says_why(
    metadata: tuple[tuple[str, str], ...], code: grpc.StatusCode, words: str
) -> None:
    routes = _Routes({
        "starting": GrpcRoute("unavailable", None, "starting", "v1"),
        "http-only": GrpcRoute("not_grpc", None, "http-only", "v1"),
        "gone": GrpcRoute("unavailable", None, "gone", "v9"),
    })

    async def scenario() -> None:
        proxy = GrpcProxy(routes)  # type: ignore[arg-type]
        port = await proxy.start()
        try:
            error = await _call(port, metadata)
        finally:
            await proxy.stop()
        assert error.code() == code
        assert words in (error.details() or "")

    asyncio.run(scenario())


def test_admission_hook_can_refuse_before_routing() -> None:
    routes = _Routes({})

    def admit(function_id: str, version_id: str | None, metadata: dict[str, str]) -> tuple[grpc.StatusCode, str] | None:
        if metadata.get("authorization") != "Bearer good":
            return grpc.StatusCode.UNAUTHENTICATED, "a valid API key is required"
        return None

    async def scenario() -> None:
        proxy = GrpcProxy(routes, admit=admit)  # type: ignore[arg-type]
        port = await proxy.start()
        try:
            error = await _call(port, (("function-id", "f"), ("authorization", "Bearer bad")))
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED
            assert routes.asked == []
            error = await _call(port, (("function-id", "f"), ("authorization", "Bearer good")))
            assert error.code() == grpc.StatusCode.NOT_FOUND
        finally:
            await proxy.stop()

    asyncio.run(scenario())


def test_an_upstream_that_is_down_is_unavailable() -> None:
    routes = _Routes({"f": GrpcRoute("ok", "127.0.0.1:9", "f", "v1")})

    async def scenario() -> None:
        proxy = GrpcProxy(routes)  # type: ignore[arg-type]
        port = await proxy.start()
        try:
            error = await _call(port, (("function-id", "f"),))
        finally:
            await proxy.stop()
        assert error.code() == grpc.StatusCode.UNAVAILABLE

    asyncio.run(scenario())
