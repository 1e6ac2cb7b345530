"""gRPC front end: KServe v2 GRPCInferenceService (echo) plus grpc.health.v1."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from mini_service import SERVER_NAME, __version__
from mini_service import inference_v2_pb2 as pb
from mini_service import inference_v2_pb2_grpc as pb_grpc
from mini_service.config import Config
from mini_service.echo_model import DEFAULT_VERSION, PLATFORM, Models, answer_parameters
from mini_service.readiness import Readiness

# Same ceiling as the HTTP side, so a large-payload test fails for the same reason on both protocols.
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
SERVICE_NAME = "inference.GRPCInferenceService"
# ModelStreamInfer's bounds: enough to see a stream, too little for a caller to pin a worker for long.
MAX_STREAM_COUNT = 100
MAX_STREAM_INTERVAL_MS = 10_000


def _bounded(parameters: Any, key: str, default: int, highest: int) -> int:
    """An integer request parameter (int64 or a numeral string) within 0..highest; ValueError otherwise."""
    if key not in parameters:
        return default
    param = parameters[key]
    text = param.string_param if param.WhichOneof("parameter_choice") == "string_param" else param.int64_param
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{key} must be an integer, got {text!r}") from None
    if not 0 <= value <= highest:
        raise ValueError(f"{key} must be between 0 and {highest}")
    return value


def _metadata_text(value: str | bytes) -> str:
    # `-bin` keys arrive as bytes; hex keeps them readable and unambiguous in a string parameter.
    return value.hex() if isinstance(value, bytes) else value


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self, models: Models, readiness: Readiness) -> None:
        self._models = models
        self._readiness = readiness

    def ServerLive(
        self, request: pb.ServerLiveRequest, context: grpc.ServicerContext
    ) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=self._readiness.is_live())

    def ServerReady(
        self, request: pb.ServerReadyRequest, context: grpc.ServicerContext
    ) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self._readiness.is_ready())

    def ModelReady(
        self, request: pb.ModelReadyRequest, context: grpc.ServicerContext
    ) -> pb.ModelReadyResponse:
        return pb.ModelReadyResponse(ready=self._models.knows(request.name) and self._readiness.is_ready())

    def ServerMetadata(
        self, request: pb.ServerMetadataRequest, context: grpc.ServicerContext
    ) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(name=SERVER_NAME, version=__version__)

    def ModelMetadata(
        self, request: pb.ModelMetadataRequest, context: grpc.ServicerContext
    ) -> pb.ModelMetadataResponse:
        self._require_model(request.name, context)
        return pb.ModelMetadataResponse(
            name=request.name, versions=[request.version or DEFAULT_VERSION], platform=PLATFORM
        )

    def ModelInfer(
        self, request: pb.ModelInferRequest, context: grpc.ServicerContext
    ) -> pb.ModelInferResponse:
        self._require_model(request.model_name, context)
        if not self._readiness.is_ready():
            context.abort(grpc.StatusCode.UNAVAILABLE, "not ready")
        return self._echo(request, context)

    def ModelStreamInfer(
        self, requests: Iterator[pb.ModelInferRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.ModelStreamInferResponse]:
        # Each request is answered as soon as it arrives, before the next one is read: a caller that
        # waits for a reply before sending again tells a relayed stream from a buffered one.
        if not self._readiness.is_ready():
            context.abort(grpc.StatusCode.UNAVAILABLE, "not ready")
        for request in requests:
            if not self._models.knows(request.model_name):
                yield pb.ModelStreamInferResponse(error_message=f"unknown model {request.model_name!r}")
                continue
            try:
                count = _bounded(request.parameters, "stream_count", 1, MAX_STREAM_COUNT)
                interval = _bounded(request.parameters, "stream_interval_ms", 0, MAX_STREAM_INTERVAL_MS)
            except ValueError as exc:
                yield pb.ModelStreamInferResponse(error_message=str(exc))
                continue
            for index in range(count):
                if index:
                    time.sleep(interval / 1000)
                response = self._echo(request, context)
                response.parameters["stream_index"].int64_param = index
                yield pb.ModelStreamInferResponse(infer_response=response)

    def _echo(self, request: pb.ModelInferRequest, context: grpc.ServicerContext) -> pb.ModelInferResponse:
        response = pb.ModelInferResponse(
            model_name=request.model_name,
            model_version=request.model_version or DEFAULT_VERSION,
            id=request.id,
            raw_output_contents=request.raw_input_contents,
        )
        for tensor in request.inputs:
            output = response.outputs.add(name=tensor.name, datatype=tensor.datatype, shape=tensor.shape)
            for key, param in tensor.parameters.items():
                output.parameters[key].CopyFrom(param)
            if tensor.HasField("contents"):
                output.contents.CopyFrom(tensor.contents)
        pairs = [(key, _metadata_text(value)) for key, value in context.invocation_metadata()]
        for key, value in answer_parameters(pairs).items():
            response.parameters[key].string_param = value
        return response

    def _require_model(self, name: str, context: grpc.ServicerContext) -> None:
        if not self._models.knows(name):
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown model {name!r}")


class GrpcFrontEnd:
    def __init__(self, config: Config, readiness: Readiness) -> None:
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="grpc"),
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                # Without this a second probe could silently share the port with a stale one.
                ("grpc.so_reuseport", 0),
            ],
        )
        pb_grpc.add_GRPCInferenceServiceServicer_to_server(
            InferenceServicer(Models(config.models), readiness), self._server
        )
        self._health = health.HealthServicer()
        for service in ("", SERVICE_NAME):
            self._health.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        readiness.on_ready(self._serving)

        host = f"[{config.host}]" if ":" in config.host else config.host
        address = f"{host}:{config.grpc_port}"
        try:
            bound = self._server.add_insecure_port(address)
        except RuntimeError as exc:  # newer grpcio raises, older returns 0
            raise OSError(f"cannot bind gRPC to {address}: {exc}") from None
        if bound == 0:
            raise OSError(f"cannot bind gRPC to {address}")
        self.port = bound

    def _serving(self) -> None:
        for service in ("", SERVICE_NAME):
            self._health.set(service, health_pb2.HealthCheckResponse.SERVING)

    def start(self) -> None:
        self._server.start()

    def stop(self, grace: float = 2.0) -> None:
        # Flip health first so watchers learn about the shutdown before connections go away.
        self._health.enter_graceful_shutdown()
        self._server.stop(grace).wait()
