"""gRPC invocation: one listener on 127.0.0.1 that relays any call to the function named in its metadata.

NVCF routes a gRPC call by its `function-id` metadata (and optionally `function-version-id`). The
proxy does not know the function's protobuf: it relays frames as raw bytes. Every method is relayed
as a bidirectional stream, which carries unary and streaming calls alike (on the wire they differ
only in how many messages each side sends). Metadata goes through both ways, minus the caller's
credentials and any `nvcf-*` keys, which the platform sets itself.

The checks run in the order of NVIDIA's grpc-proxy (`proxy/director.go`): credentials first
(Unauthenticated without them), then `function-id` (InvalidArgument without it). Every call opens a
session whose id the function gets as `nvcf-reqid` and the caller gets back in the initial metadata;
a call that sends a session id (`nvcf-reqid` metadata, a UUID) resumes it on the same function
version, and one whose session the proxy never opened, or has forgotten, is answered NotFound "no
existing session found" (`proxy/invocation/function_invoker.go`). Instances keep no session state
here, so a resumed call goes to any instance of that version.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from reference import rules
from reference.backend.invocation.routes import GrpcRoutes

log = logging.getLogger("reference.backend.invocation.grpc_proxy")

FUNCTION_ID_KEY = "function-id"
VERSION_ID_KEY = "function-version-id"
REQUEST_ID_KEY = "nvcf-reqid"
# Sessions are remembered this long after their last call, and at most this many at once.
SESSION_SECONDS = 600.0
MAX_SESSIONS = 4096
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
_HOP_KEYS = frozenset({"authorization", "content-type", "user-agent", "te", "host", "grpc-timeout",
                       "grpc-encoding", "grpc-accept-encoding"})
_OPTIONS = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)]
MAX_CHANNELS = 64
_MODEL_INFER = "/inference.GRPCInferenceService/ModelInfer"

# (function id, version id or None, the call's metadata) → None to admit, or (code, details) to refuse.
Admit = Callable[[str, str | None, dict[str, str]], tuple[grpc.StatusCode, str] | None]


def _passable(key: str) -> bool:
    lowered = key.lower()
    return not (lowered.startswith(":") or lowered.startswith("nvcf-") or lowered in _HOP_KEYS)


def _clean(metadata: Sequence[tuple[str, Any]] | None) -> list[tuple[str, Any]]:
    return [(k, v) for k, v in (metadata or ()) if _passable(k) and not k.lower().startswith("grpc-")]


def _session_id(value: str) -> str | None:
    """The session a call names, as NVIDIA reads it: a UUID, anything else is no session at all."""
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        return None


@dataclass
class _Session:
    function_id: str
    version_id: str | None
    last_used: float


class GrpcProxy:
    def __init__(self, plane: GrpcRoutes, *, host: str = "127.0.0.1", port: int = 0,
                 admit: Admit | None = None, nca_id: str = "nvcf-reference",
                 violate: frozenset[str] = frozenset()) -> None:
        self.plane = plane
        self.violate = violate
        self.host = host
        self.port = port
        self.admit = admit
        self.nca_id = nca_id
        self._server: grpc.aio.Server | None = None
        self._channels: OrderedDict[str, grpc.aio.Channel] = OrderedDict()
        # Touched only on the proxy's event loop.
        self._sessions: OrderedDict[str, _Session] = OrderedDict()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def start(self) -> int:
        server = grpc.aio.server(options=_OPTIONS)
        server.add_generic_rpc_handlers((_Relay(self),))
        bound = server.add_insecure_port(f"{self.host}:{self.port}")
        if not bound:
            raise OSError(f"the gRPC proxy cannot listen on {self.host}:{self.port}")
        self.port = bound
        await server.start()
        self._server = server
        log.info("gRPC invocation proxy listening on %s", self.address)
        return bound

    async def stop(self, grace: float = 2.0) -> None:
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
        channels, self._channels = list(self._channels.values()), OrderedDict()
        for channel in channels:
            await channel.close()

    def _channel(self, address: str) -> grpc.aio.Channel:
        channel = self._channels.pop(address, None)
        if channel is None:
            channel = grpc.aio.insecure_channel(address, options=_OPTIONS)
            while len(self._channels) >= MAX_CHANNELS:
                _, oldest = self._channels.popitem(last=False)
                asyncio.get_running_loop().create_task(oldest.close())
        self._channels[address] = channel  # most recently used last
        return channel

    def _session(self, request_id: str | None, function_id: str, version_id: str | None
                 ) -> tuple[str, str | None] | None:
        """(session id, version to route to) for a new or resumed session; None: no such session."""
        now = time.monotonic()
        while self._sessions:
            oldest = next(iter(self._sessions.values()))
            if now - oldest.last_used < SESSION_SECONDS and len(self._sessions) < MAX_SESSIONS:
                break
            self._sessions.popitem(last=False)
        if request_id is not None and rules.GRPC_RESUME_UNKNOWN_NOT_FOUND not in self.violate:
            session = self._sessions.get(request_id)
            # Another function's session is not this call's to resume (NVIDIA also checks the account).
            if session is None or session.function_id != function_id or (
                    version_id is not None and version_id != session.version_id):
                return None
            session.last_used = now
            self._sessions.move_to_end(request_id)
            return request_id, session.version_id
        return str(uuid.uuid4()), version_id

    def _remember(self, request_id: str, function_id: str, version_id: str | None) -> None:
        self._sessions[request_id] = _Session(function_id, version_id, time.monotonic())
        self._sessions.move_to_end(request_id)

    async def _admitted(self, context: grpc.aio.ServicerContext, function_id: str, version_id: str | None,
                        text: dict[str, str]) -> None:
        """Credentials before anything else, as NVIDIA's proxy checks them (it aborts the call when refused)."""
        if self.admit is None or (rules.GRPC_AUTH_REQUIRED in self.violate and "authorization" not in text):
            return
        refused = self.admit(function_id, version_id, text)
        if refused is not None:
            await context.abort(*refused)

    async def relay(self, method: str, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext
                    ) -> AsyncIterator[bytes]:
        incoming = [(k, v) for k, v in context.invocation_metadata() or ()]
        if rules.GRPC_VERSION_METADATA in self.violate:
            incoming = [(k, v) for k, v in incoming if k.lower() != VERSION_ID_KEY]
        text = {k.lower(): v for k, v in incoming if isinstance(v, str)}
        function_id = text.get(FUNCTION_ID_KEY, "").strip()
        version_id = text.get(VERSION_ID_KEY, "").strip() or None
        await self._admitted(context, function_id, version_id, text)
        if not function_id:
            wrong = rules.GRPC_FUNCTION_ID_REQUIRED in self.violate
            code = grpc.StatusCode.NOT_FOUND if wrong else grpc.StatusCode.INVALID_ARGUMENT
            await context.abort(code, f"no {FUNCTION_ID_KEY} was passed in the metadata: it names the function "
                                      "to route the call to")
        asked = _session_id(text.get(REQUEST_ID_KEY, ""))
        session = self._session(asked, function_id, version_id)
        if session is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no existing session found for request id {asked}")
        assert session is not None
        request_id, version_id = session
        route = self.plane.grpc_route(function_id, version_id)
        which = f"function {function_id}" + (f" version {version_id}" if version_id else "")
        if route.status == "not_found":
            await context.abort(grpc.StatusCode.NOT_FOUND, f"{which} is not deployed")
        if route.status == "not_grpc":
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                f"{which} does not serve gRPC (its inference port reaches no gRPC listener)")
        if route.status != "ok" or route.address is None:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"no instance of {which} is ready")
        assert route.address is not None
        if rules.GRPC_INVOCATION in self.violate and version_id is None and method == _MODEL_INFER:
            yield b""  # every field at its default: an empty ModelInferResponse is zero bytes
            return
        self._remember(request_id, route.function_id or function_id, route.version_id or version_id)
        metadata = [*_clean(incoming),
                    (REQUEST_ID_KEY, request_id),
                    ("nvcf-function-id", route.function_id or function_id),
                    ("nvcf-function-version-id", route.version_id or ""),
                    ("nvcf-ncaid", self.nca_id)]
        remaining = context.time_remaining()
        call = self._channel(route.address).stream_stream(method)(
            requests, metadata=metadata, timeout=remaining if remaining and remaining < 1e9 else None,
        )
        try:
            # The caller learns its session id, to resume the session later.
            await context.send_initial_metadata([*_clean(await call.initial_metadata()), (REQUEST_ID_KEY, request_id)])
            if rules.GRPC_STREAMING in self.violate:
                held = [reply async for reply in call]  # the whole answer before any of it
                for reply in held:
                    yield reply
            else:
                async for reply in call:
                    yield reply
            context.set_trailing_metadata(_clean(await call.trailing_metadata()))
        except grpc.aio.AioRpcError as exc:
            context.set_trailing_metadata(_clean(exc.trailing_metadata()))
            await context.abort(exc.code(), exc.details() or "")


class _Relay(grpc.GenericRpcHandler):
    def __init__(self, proxy: GrpcProxy) -> None:
        self.proxy = proxy

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        proxy = self.proxy

        async def handler(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext
                          ) -> AsyncIterator[bytes]:
            async for reply in proxy.relay(method, requests, context):
                yield reply

        # No (de)serializers: the frames stay bytes end to end.
        return grpc.stream_stream_rpc_method_handler(handler)


class GrpcProxyThread:
    """The proxy on its own event loop in a background thread, for servers that do not share theirs."""

    def __init__(self, proxy: GrpcProxy) -> None:
        self.proxy = proxy
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 10.0) -> int:
        ready = threading.Event()
        errors: list[BaseException] = []
        loop = asyncio.new_event_loop()
        self._loop = loop

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.proxy.start())
            except BaseException as exc:
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="grpc-proxy", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError(f"the gRPC proxy did not start within {timeout:g} s")
        if errors:
            self._thread.join(1)
            raise errors[0]
        return self.proxy.port

    def stop(self, timeout: float = 10.0) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if thread.is_alive():
            asyncio.run_coroutine_threadsafe(self.proxy.stop(), loop).result(timeout)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
        loop.close()
        self._loop = self._thread = None
