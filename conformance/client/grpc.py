"""gRPC invocation through NVCF: KServe v2 ModelInfer and grpc.health.v1, with `function-id` metadata.

The KServe v2 stubs are the mini-service's own generated modules (one copy in the repository); they
are loaded from `sample-charts/images/mini-service` by putting that folder on `sys.path` once, here.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Any

import grpc

from conformance.client.errors import TargetUnreachable
from conformance.client.redact import Redactor
from conformance.client.transcript import Transcript, clip
from conformance.paths import SAMPLE_CHARTS
from conformance.report.model import Exchange
from conformance.target.config import TargetConfig

STUBS_DIR = SAMPLE_CHARTS / "images" / "mini-service"
# Codes that mean the call never reached anything that could judge it.
_TRANSPORT_CODES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


@cache
def kserve() -> tuple[ModuleType, ModuleType]:
    """(inference_v2_pb2, inference_v2_pb2_grpc) from the mini-service sources."""
    if str(STUBS_DIR) not in sys.path:
        sys.path.append(str(STUBS_DIR))
    from mini_service import inference_v2_pb2, inference_v2_pb2_grpc

    return inference_v2_pb2, inference_v2_pb2_grpc


@dataclass(frozen=True)
class GrpcReply:
    code: str  # grpc.StatusCode name, "OK" on success
    details: str
    message: Any  # the response message, None on error
    metadata: dict[str, str]

    @property
    def ok(self) -> bool:
        return self.code == "OK"


class GrpcInvoker:
    def __init__(self, target: TargetConfig, *, transcript: Transcript, redactor: Redactor) -> None:
        address = target.grpc_address
        if not address:
            raise TargetUnreachable("no gRPC endpoint configured: set nvcf.grpc (NVCF_GRPC_ADDR) to host:port")
        self.target = target
        self.address = address
        self.transcript = transcript
        self.redactor = redactor
        creds = grpc.ssl_channel_credentials() if target.grpc_tls else None
        self._channel = grpc.secure_channel(address, creds) if creds else grpc.insecure_channel(address)

    def close(self) -> None:
        self._channel.close()

    def _metadata(self, function_id: str, version_id: str | None) -> list[tuple[str, str]]:
        meta = [("authorization", f"Bearer {self.target.api_key}"), ("function-id", function_id)]
        if version_id:
            meta.append(("function-version-id", version_id))
        return meta

    def _call(self, method: str, call: Any, request: Any, metadata: list[tuple[str, str]]) -> GrpcReply:
        started = time.monotonic()
        timeout = self.target.timeout("invoke")
        try:
            response, rpc = call.with_call(request, metadata=metadata, timeout=timeout)
            reply = GrpcReply("OK", "", response, {k: str(v) for k, v in rpc.trailing_metadata() or ()})
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
        pb, pb_grpc = kserve()
        tensor = pb.ModelInferRequest.InferInputTensor(name="INPUT0", datatype="BYTES", shape=[1])
        tensor.contents.bytes_contents.append(text.encode())
        request = pb.ModelInferRequest(model_name=model, id=request_id, inputs=[tensor])
        stub = pb_grpc.GRPCInferenceServiceStub(self._channel)
        return self._call("inference.GRPCInferenceService/ModelInfer", stub.ModelInfer, request,
                          self._metadata(function_id, version_id))

    def health(self, function_id: str, *, version_id: str | None = None, service: str = "") -> GrpcReply:
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        stub = health_pb2_grpc.HealthStub(self._channel)
        return self._call("grpc.health.v1.Health/Check", stub.Check, health_pb2.HealthCheckRequest(service=service),
                          self._metadata(function_id, version_id))
