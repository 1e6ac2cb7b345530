"""The probe's streaming answers over real sockets: gRPC ModelStreamInfer and HTTP generate_stream (SSE), both
Triton's streaming interfaces."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator

import grpc
import httpx
import pytest
from mini_service import inference_v2_pb2 as pb
from mini_service import inference_v2_pb2_grpc as pb_grpc
from test_mini_service import Probe, _channel, _run_probe


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Probe]:
    with _run_probe(tmp_path_factory.mktemp("stream-probe")) as p:
        yield p


@pytest.fixture
def stub(probe: Probe) -> Iterator[pb_grpc.GRPCInferenceServiceStub]:
    with _channel(probe.grpc_target) as channel:
        yield pb_grpc.GRPCInferenceServiceStub(channel)


def _request(text: str, model: str = "echo", **params: int | str) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name=model, id=text)
    request.inputs.add(name="INPUT0", datatype="BYTES", shape=[1]).contents.bytes_contents.append(text.encode())
    for key, value in params.items():
        if isinstance(value, int):
            request.parameters[key].int64_param = value
        else:
            request.parameters[key].string_param = value
    return request


def test_each_message_is_answered_before_the_next_is_read(stub: pb_grpc.GRPCInferenceServiceStub) -> None:
    outgoing: queue.Queue[pb.ModelInferRequest | None] = queue.Queue()
    call = stub.ModelStreamInfer(iter(outgoing.get, None), timeout=10)
    replies: queue.Queue[pb.ModelStreamInferResponse] = queue.Queue()
    threading.Thread(target=lambda: [replies.put(r) for r in call], daemon=True).start()
    for text in ("a", "b", "c"):
        outgoing.put(_request(text))
        reply = replies.get(timeout=5)  # the next message is only sent once this one is answered
        assert reply.infer_response.outputs[0].contents.bytes_contents == [text.encode()]
        assert reply.infer_response.id == text
    outgoing.put(None)
    assert call.code() == grpc.StatusCode.OK and replies.empty()


def test_stream_count_and_interval_spread_replies_over_time(stub: pb_grpc.GRPCInferenceServiceStub) -> None:
    started = time.monotonic()
    arrivals = []
    for reply in stub.ModelStreamInfer(iter([_request("x", stream_count=3, stream_interval_ms="300")]), timeout=10):
        arrivals.append(time.monotonic() - started)
        assert not reply.error_message
    assert len(arrivals) == 3
    assert arrivals[0] < 0.25 <= 0.5 <= arrivals[2] - arrivals[0]


@pytest.mark.parametrize(("request_", "error"), [
    (_request("x", model="missing"), "unknown model 'missing'"),
    (_request("x", stream_count=101), "stream_count must be between 0 and 100"),
    (_request("x", stream_interval_ms="soon"), "stream_interval_ms must be an integer, got 'soon'"),
], ids=["unknown-model", "count-too-high", "interval-not-a-number"])
def test_a_bad_message_gets_an_error_reply_and_the_stream_goes_on(
        stub: pb_grpc.GRPCInferenceServiceStub, request_: pb.ModelInferRequest, error: str) -> None:
    replies = list(stub.ModelStreamInfer(iter([request_, _request("after")]), timeout=10))
    assert [r.error_message for r in replies] == [error, ""]
    assert replies[1].infer_response.outputs[0].contents.bytes_contents == [b"after"]


# ---- HTTP: server-sent events -------------------------------------------------------------------


def test_generate_stream_sends_each_event_as_it_is_produced(probe: Probe) -> None:
    body = {"text_input": "hi", "parameters": {"stream_count": 3, "stream_interval_ms": 300}}
    arrivals, events = [], []
    started = time.monotonic()
    with httpx.Client(base_url=probe.base_url, timeout=10, trust_env=False) as http, \
            http.stream("POST", "/v2/models/echo/generate_stream", json=body) as response:
        assert response.status_code == 200 and response.headers["content-type"] == "text/event-stream"
        for line in response.iter_lines():
            if line.startswith("data: "):
                arrivals.append(time.monotonic() - started)
                events.append(json.loads(line[len("data: "):]))
    assert [(e["text_output"], e["index"], e["count"]) for e in events] == [("hi", 0, 3), ("hi", 1, 3), ("hi", 2, 3)]
    # The first event came before the last one was even produced.
    assert arrivals[0] < 0.25 and arrivals[2] - arrivals[0] >= 0.5


@pytest.mark.parametrize("body", [b"[]", b'{"parameters": {"stream_count": 101}}',
                                  b'{"parameters": {"stream_interval_ms": "1"}}', b"not json"],
                         ids=["not-an-object", "count-too-high", "interval-not-an-integer", "not-json"])
def test_generate_stream_refuses_a_bad_request(probe: Probe, body: bytes) -> None:
    with httpx.Client(base_url=probe.base_url, timeout=10, trust_env=False) as http:
        response = http.post("/v2/models/echo/generate_stream", content=body)
    assert response.status_code == 400 and "error" in response.json()
