"""The gRPC proxy relays a streaming call message by message, and its GRPC-STREAMING mutant does not.

A stand-in function on 127.0.0.1 answers each message of a bidirectional call as it arrives; the caller
sends its next message only once the reply to the one before has come back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
import pytest
from rb_support import FunctionRoutes

from reference import rules
from reference.backend.invocation.grpc_proxy import GrpcProxy

STREAM = "/inference.GRPCInferenceService/ModelStreamInfer"
METADATA = (("function-id", "f"),)


class _EchoStream(grpc.GenericRpcHandler):
    """A function that answers every message of a stream with `reply:<message>` at once."""

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        async def echo(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
            async for request in requests:
                yield b"reply:" + request

        return grpc.stream_stream_rpc_method_handler(echo)


@asynccontextmanager
async def _proxied(violate: frozenset[str]) -> AsyncIterator[grpc.aio.Channel]:
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((_EchoStream(),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    proxy = GrpcProxy(FunctionRoutes(f"127.0.0.1:{port}"), violate=violate)  # type: ignore[arg-type]
    proxy_port = await proxy.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{proxy_port}") as channel:
            yield channel
    finally:
        await proxy.stop()
        await server.stop(None)


@pytest.mark.parametrize(("violate", "relayed"), [(frozenset(), True), (frozenset({rules.GRPC_STREAMING}), False)],
                         ids=["unmutated", "mutant"])
def test_each_reply_reaches_the_caller_before_its_next_message_unless_the_mutant_holds_them(
        violate: frozenset[str], relayed: bool) -> None:
    async def scenario() -> None:
        async with _proxied(violate) as channel:
            call = channel.stream_stream(STREAM)(metadata=METADATA, timeout=10)
            replies: list[bytes] = []
            # A read is never cancelled (that would cancel the call): one still waiting is awaited later.
            reading: asyncio.Future[object] | None = None
            for message in (b"one", b"two", b"three"):
                await call.write(message)
                reading = reading or asyncio.ensure_future(call.read())
                done, _ = await asyncio.wait({reading}, timeout=2)
                if not done:
                    break  # the reply did not come while the call is open
                replies.append(reading.result())  # type: ignore[arg-type]
                reading = None
            await call.done_writing()
            rest = [await reading] if reading is not None else []
            while (reply := await call.read()) is not grpc.aio.EOF:
                rest.append(reply)
            assert await call.code() == grpc.StatusCode.OK
            if relayed:
                assert (replies, rest) == ([b"reply:one", b"reply:two", b"reply:three"], [])
            else:  # held until the caller closed, then all at once
                assert (replies, rest) == ([], [b"reply:one"])

    asyncio.run(scenario())
