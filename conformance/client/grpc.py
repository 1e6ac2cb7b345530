"""gRPC invocation through NVCF: KServe v2 ModelInfer and grpc.health.v1, with `function-id` metadata.

The KServe v2 stubs are the mini-service's own generated modules (one copy in the repository), taken
from the installed `mini_service` package (`make install` installs it beside the harness).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from types import ModuleType
from typing import Any

import grpc

from conformance.client.errors import TargetUnreachable
from conformance.client.redact import Redactor
from conformance.client.transcript import Transcript, clip
from conformance.report.model import Exchange
from conformance.target.config import TargetConfig

# Codes that mean the call never reached anything that could judge it.
_TRANSPORT_CODES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


@cache
def kserve() -> tuple[ModuleType, ModuleType]:
    """(inference_v2_pb2, inference_v2_pb2_grpc) from the mini-service package."""
    from mini_service import inference_v2_pb2, inference_v2_pb2_grpc

    return inference_v2_pb2, inference_v2_pb2_grpc


@dataclass(frozen=True)
class GrpcReply:
    code: str  # grpc.StatusCode name, "OK" on success
    details: str
    message: Any  # the response message, None on error
    metadata: dict[str, str]  # trailing metadata
    initial_metadata: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.code == "OK"


@dataclass(frozen=True)
class StreamReply:
    """How a streaming call went, message by message."""

    code: str  # the call's final status, "OK" when it ended normally
    details: str
    replies: tuple[Any, ...]  # the function's messages, in the order they arrived
    arrivals: tuple[float, ...]  # seconds from the call's start to each of them
    stalled: str | None  # why the caller stopped before its last message (None: it did not)

    @property
    def ok(self) -> bool:
        return self.code == "OK" and self.stalled is None


_END = object()  # the reader's mark that the call has no more replies


class GrpcInvoker:
    def __init__(self, target: TargetConfig, *, transcript: Transcript, redactor: Redactor) -> None:
        address = target.grpc_address
        if not address:
            raise TargetUnreachable("no gRPC endpoint configured: set nvcf.grpc (NVCF_GRPC_ADDR) to host:port")
        self.target = target
        self.address = address
        self.transcript = transcript
        self.redactor = redactor
        self._channel = self._new_channel()

    def _new_channel(self, options: list[tuple[str, Any]] | None = None) -> grpc.Channel:
        if self.target.grpc_tls:
            return grpc.secure_channel(self.address, grpc.ssl_channel_credentials(), options=options)
        return grpc.insecure_channel(self.address, options=options)

    def close(self) -> None:
        self._channel.close()

    def metadata(self, function_id: str | None, version_id: str | None = None, *, key: bool = True
                 ) -> list[tuple[str, str]]:
        """What a call carries: the API key, `function-id` and `function-version-id` (each left out when None/False)."""
        meta = [("authorization", f"Bearer {self.target.api_key}")] if key else []
        if function_id is not None:
            meta.append(("function-id", function_id))
        if version_id:
            meta.append(("function-version-id", version_id))
        return meta

    def _metadata(self, function_id: str, version_id: str | None) -> list[tuple[str, str]]:
        return self.metadata(function_id, version_id)

    def _call(self, method: str, call: Any, request: Any, metadata: list[tuple[str, str]]) -> GrpcReply:
        started = time.monotonic()
        timeout = self.target.timeout("invoke")
        try:
            response, rpc = call.with_call(request, metadata=metadata, timeout=timeout)
            reply = GrpcReply("OK", "", response, {k: str(v) for k, v in rpc.trailing_metadata() or ()},
                              {k: str(v) for k, v in rpc.initial_metadata() or ()})
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
            details = exc.details() if hasattr(exc, "details") else str(exc)
            reply = GrpcReply(code.name, details or "", None, {})
            self._record(method, request, metadata, reply, time.monotonic() - started)
            if code in _TRANSPORT_CODES and "function" not in (details or "").lower():
                raise TargetUnreachable(
                    f"gRPC {method} at {self.address}: {code.name} ({self.redactor.text(details)}); "
                    "check nvcf.grpc / NVCF_GRPC_ADDR"
                ) from None
            return reply
        self._record(method, request, metadata, reply, time.monotonic() - started)
        return reply

    def _record(self, method: str, request: Any, metadata: list[tuple[str, str]], reply: GrpcReply,
                elapsed: float) -> None:
        r = self.redactor
        self.transcript.add(Exchange(
            method="GRPC",
            url=f"grpc://{self.address}/{method}",
            request_headers=r.headers(metadata),
            request_body=clip(r.text(str(request))),
            status=reply.code,
            response_headers=r.headers(reply.metadata),
            response_body=clip(r.text(str(reply.message) if reply.message is not None else reply.details)),
            elapsed_s=round(elapsed, 4),
        ))

    def model_infer(self, function_id: str, *, version_id: str | None = None, model: str = "echo",
                    text: str = "conformance", request_id: str = "") -> GrpcReply:
        return self.model_infer_with(self._metadata(function_id, version_id), model=model, text=text,
                                     request_id=request_id)

    def model_infer_with(self, metadata: list[tuple[str, str]], *, model: str = "echo", text: str = "conformance",
                         request_id: str = "", new_connection: bool = False) -> GrpcReply:
        """ModelInfer carrying exactly `metadata` (the refusal rules leave keys out or add `nvcf-reqid`).

        `new_connection`: over a TCP connection of its own. NVIDIA's proxy binds a function's session to
        the connection and reads `nvcf-reqid` only when it opens one, so a resume must come first on its
        connection to be judged at all.
        """
        pb, pb_grpc = kserve()
        tensor = pb.ModelInferRequest.InferInputTensor(name="INPUT0", datatype="BYTES", shape=[1])
        tensor.contents.bytes_contents.append(text.encode())
        request = pb.ModelInferRequest(model_name=model, id=request_id, inputs=[tensor])
        if not new_connection:
            stub = pb_grpc.GRPCInferenceServiceStub(self._channel)
            return self._call("inference.GRPCInferenceService/ModelInfer", stub.ModelInfer, request, metadata)
        # A subchannel pool of its own: channels to one address otherwise share their connection.
        channel = self._new_channel([("grpc.use_local_subchannel_pool", 1)])
        try:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            return self._call("inference.GRPCInferenceService/ModelInfer", stub.ModelInfer, request, metadata)
        finally:
            channel.close()

    def health(self, function_id: str, *, version_id: str | None = None, service: str = "") -> GrpcReply:
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        stub = health_pb2_grpc.HealthStub(self._channel)
        return self._call("grpc.health.v1.Health/Check", stub.Check, health_pb2.HealthCheckRequest(service=service),
                          self._metadata(function_id, version_id))

    def model_stream_conversation(self, function_id: str, texts: Sequence[str], *, wait: float,
                                  version_id: str | None = None, model: str = "echo") -> StreamReply:
        """One ModelStreamInfer call held as a conversation: each text is sent only once the reply to the
        one before has arrived (within `wait` seconds), then the caller closes its side.

        A relay that keeps replies until the call ends, or requests until the caller closes, never lets
        the first reply through, so the caller stops there (`stalled`) and cancels the call.
        """
        pb, pb_grpc = kserve()
        metadata = self._metadata(function_id, version_id)
        outgoing: queue.Queue[Any] = queue.Queue()
        incoming: queue.Queue[Any] = queue.Queue()

        def requests() -> Iterator[Any]:
            while (item := outgoing.get()) is not None:
                yield item

        started = time.monotonic()
        call = pb_grpc.GRPCInferenceServiceStub(self._channel).ModelStreamInfer(
            requests(), metadata=metadata, timeout=self.target.timeout("invoke"))

        def read() -> None:
            try:
                for reply in call:
                    incoming.put((reply, time.monotonic() - started))
            except grpc.RpcError:
                pass  # the call's code and details say why
            finally:
                incoming.put(_END)

        reader = threading.Thread(target=read, name="grpc-stream-reader", daemon=True)
        reader.start()
        got: list[tuple[Any, float]] = []
        stalled = None
        ended = False
        for index, text in enumerate(texts):
            outgoing.put(_infer_request(pb, model, text, f"stream-{index}"))
            try:
                item = incoming.get(timeout=wait)
            except queue.Empty:
                stalled = (f"no reply to message {index + 1} of {len(texts)} within {wait:g} s; the caller sends "
                           "its next message only after that reply")
                break
            if item is _END:
                ended = True
                break
            got.append(item)
        outgoing.put(None)  # the caller's side of the call ends here (and the request thread with it)
        if stalled is not None:
            call.cancel()
        try:
            while not ended and (item := incoming.get(timeout=wait)) is not _END:  # what came after the last send
                got.append(item)
        except queue.Empty:
            stalled = stalled or f"the call did not end within {wait:g} s of the caller closing its side"
            call.cancel()
        reader.join(wait)
        code = call.code()
        details = call.details() or ""
        reply = StreamReply(code.name, details, tuple(r for r, _ in got), tuple(round(t, 3) for _, t in got),
                            stalled)
        self._record_stream("inference.GRPCInferenceService/ModelStreamInfer", texts, metadata, reply,
                            time.monotonic() - started)
        if code in _TRANSPORT_CODES and stalled is None and "function" not in details.lower():
            raise TargetUnreachable(f"gRPC ModelStreamInfer at {self.address}: {code.name} "
                                    f"({self.redactor.text(details)}); check nvcf.grpc / NVCF_GRPC_ADDR")
        return reply

    def _record_stream(self, method: str, texts: Sequence[str], metadata: list[tuple[str, str]], reply: StreamReply,
                       elapsed: float) -> None:
        r = self.redactor
        said = [f"{t:.3f}s {m}".replace("\n", " ") for m, t in zip(reply.replies, reply.arrivals, strict=True)]
        outcome = reply.stalled or reply.details
        self.transcript.add(Exchange(
            method="GRPC",
            url=f"grpc://{self.address}/{method}",
            request_headers=r.headers(metadata),
            request_body=clip(r.text(f"{len(texts)} messages, each after the reply to the one before: {list(texts)}")),
            status=reply.code,
            response_headers={},
            response_body=clip(r.text("\n".join([*said, outcome] if outcome else said))),
            elapsed_s=round(elapsed, 4),
        ))


def _infer_request(pb: ModuleType, model: str, text: str, request_id: str) -> Any:
    tensor = pb.ModelInferRequest.InferInputTensor(name="INPUT0", datatype="BYTES", shape=[1])
    tensor.contents.bytes_contents.append(text.encode())
    return pb.ModelInferRequest(model_name=model, id=request_id, inputs=[tensor])
