"""The gRPC proxy's checks in NVIDIA's order and its sessions (`nvcf-reqid`), with their mutants (no cluster)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest
from rb_support import FunctionRoutes, RecordingUpstream

from reference import rules
from reference.backend.invocation.grpc_proxy import GrpcProxy

METHOD = "/inference.GRPCInferenceService/ModelInfer"
KEY = "Bearer good"


def _admit(function_id: str, version_id: str | None, metadata: dict[str, str]) -> tuple[grpc.StatusCode, str] | None:
    if metadata.get("authorization") != KEY:
        return grpc.StatusCode.UNAUTHENTICATED, "an API key is required"
    return None


@asynccontextmanager
async def _proxied(violate: frozenset[str] = frozenset()
                   ) -> AsyncIterator[tuple[grpc.aio.Channel, RecordingUpstream, FunctionRoutes]]:
    upstream = RecordingUpstream()
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((upstream,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    routes = FunctionRoutes(f"127.0.0.1:{port}", ("v1", "v2"))
    proxy = GrpcProxy(routes, admit=_admit, violate=violate)  # type: ignore[arg-type]
    proxy_port = await proxy.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{proxy_port}") as channel:
            yield channel, upstream, routes
    finally:
        await proxy.stop()
        await server.stop(None)


async def _call(channel: grpc.aio.Channel, *metadata: tuple[str, str]) -> tuple[bytes, dict[str, str]]:
    """The reply and the initial metadata the proxy sent back."""
    call = channel.unary_unary(METHOD)(b"ping", metadata=metadata, timeout=5)
    reply: bytes = await call
    return reply, {k: str(v) for k, v in await call.initial_metadata() or ()}


async def _refused(channel: grpc.aio.Channel, *metadata: tuple[str, str]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await channel.unary_unary(METHOD)(b"ping", metadata=metadata, timeout=5)
    return refused.value


def _run(scenario: Any) -> None:
    asyncio.run(scenario())


def test_credentials_are_checked_before_the_function_id() -> None:
    async def scenario() -> None:
        async with _proxied() as (channel, upstream, routes):
            assert (await _refused(channel)).code() == grpc.StatusCode.UNAUTHENTICATED
            assert (await _refused(channel, ("function-id", "f"))).code() == grpc.StatusCode.UNAUTHENTICATED
            missing = await _refused(channel, ("authorization", KEY))
            assert missing.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "no function-id was passed in the metadata" in (missing.details() or "")
            assert routes.asked == [] and upstream.seen == []

    _run(scenario)


def test_each_call_opens_a_session_whose_id_both_ends_learn() -> None:
    async def scenario() -> None:
        async with _proxied() as (channel, upstream, _):
            reply, initial = await _call(channel, ("authorization", KEY), ("function-id", "f"))
            assert reply == b"reply:ping"
            assert str(uuid.UUID(initial["nvcf-reqid"])) == initial["nvcf-reqid"]
            assert upstream.seen[0]["nvcf-reqid"] == initial["nvcf-reqid"]
            _, again = await _call(channel, ("authorization", KEY), ("function-id", "f"))
            assert again["nvcf-reqid"] != initial["nvcf-reqid"]

    _run(scenario)


def test_a_session_resumes_on_its_version_and_an_unknown_one_is_not_found() -> None:
    async def scenario() -> None:
        async with _proxied() as (channel, upstream, routes):
            _, initial = await _call(channel, ("authorization", KEY), ("function-id", "f"),
                                     ("function-version-id", "v1"))
            session = initial["nvcf-reqid"]
            # Resumed without a version: still the session's v1, under the same id.
            _, resumed = await _call(channel, ("authorization", KEY), ("function-id", "f"), ("nvcf-reqid", session))
            assert resumed["nvcf-reqid"] == session
            assert routes.asked[-1] == ("f", "v1")
            assert upstream.seen[-1]["nvcf-reqid"] == session
            unknown = str(uuid.uuid4())
            refused = await _refused(channel, ("authorization", KEY), ("function-id", "f"), ("nvcf-reqid", unknown))
            assert refused.code() == grpc.StatusCode.NOT_FOUND
            assert f"no existing session found for request id {unknown}" == refused.details()
            # Another function, or another version, does not resume this session.
            other = await _refused(channel, ("authorization", KEY), ("function-id", "g"), ("nvcf-reqid", session))
            assert other.code() == grpc.StatusCode.NOT_FOUND
            version = await _refused(channel, ("authorization", KEY), ("function-id", "f"),
                                     ("function-version-id", "v2"), ("nvcf-reqid", session))
            assert version.code() == grpc.StatusCode.NOT_FOUND
            # A value that is no UUID names no session: the call opens a new one, as NVIDIA's proxy does.
            _, fresh = await _call(channel, ("authorization", KEY), ("function-id", "f"), ("nvcf-reqid", "not-a-uuid"))
            assert fresh["nvcf-reqid"] not in (session, "not-a-uuid")

    _run(scenario)


def test_the_resume_mutant_opens_a_new_session_for_an_unknown_id() -> None:
    async def scenario() -> None:
        async with _proxied(frozenset({rules.GRPC_RESUME_UNKNOWN_NOT_FOUND})) as (channel, upstream, _):
            unknown = str(uuid.uuid4())
            reply, initial = await _call(channel, ("authorization", KEY), ("function-id", "f"), ("nvcf-reqid", unknown))
            assert reply == b"reply:ping" and initial["nvcf-reqid"] != unknown
            assert len(upstream.seen) == 1

    _run(scenario)


def test_the_function_id_mutant_answers_not_found() -> None:
    async def scenario() -> None:
        async with _proxied(frozenset({rules.GRPC_FUNCTION_ID_REQUIRED})) as (channel, _, _):
            assert (await _refused(channel, ("authorization", KEY))).code() == grpc.StatusCode.NOT_FOUND
            # Only that: a call without credentials is still refused.
            assert (await _refused(channel, ("function-id", "f"))).code() == grpc.StatusCode.UNAUTHENTICATED

    _run(scenario)


def test_the_auth_mutant_lets_a_call_without_credentials_through() -> None:
    async def scenario() -> None:
        async with _proxied(frozenset({rules.GRPC_AUTH_REQUIRED})) as (channel, upstream, _):
            reply, _ = await _call(channel, ("function-id", "f"))
            assert reply == b"reply:ping" and len(upstream.seen) == 1
            # Only that: a wrong key is still refused.
            wrong = await _refused(channel, ("authorization", "Bearer bad"), ("function-id", "f"))
            assert wrong.code() == grpc.StatusCode.UNAUTHENTICATED

    _run(scenario)
