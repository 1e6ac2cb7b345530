"""The gRPC spelling the backend honours is detected from health.protocol, once, without deploying."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_nvcf import FakeNvcf
from harness_support import target_for

from conformance.client import NvcfClient
from conformance.plugin import ChartRef
from conformance.plugin.grpc_spelling import GrpcSpelling, detect, shared

CHART = ChartRef(case="grpc", chart="grpc", version="1.0.0", helm_chart="oci://127.0.0.1:5999/r/charts/grpc-1.0.0.tgz",
                 service_name="grpc", inference_port=8001, inference_url="/gRPC", digest=None)


@pytest.mark.parametrize(("honoured", "expected", "creates"), [
    ("/grpc", "/grpc", 2),  # NVIDIA's: /gRPC reports HTTP, /grpc reports gRPC
    ("/gRPC", "/gRPC", 1),  # the docs'
    (None, "/gRPC", 1),  # no protocol reported: the documented spelling, after one look
])
def test_detected_from_the_reported_protocol(fake: FakeNvcf, honoured: str | None, expected: str,
                                             creates: int) -> None:
    fake.state.script.grpc_url = honoured
    with NvcfClient(target_for(fake.address, registry=False)) as client:
        spelling = detect(client, CHART, "nvcfc-t1-grpc-detect", "auto")
    assert spelling.url == expected
    assert len(fake.calls("POST")) == creates  # no deployment, only creations
    assert len(fake.calls("DELETE")) == creates  # and each removed again
    assert not fake.calls("GET") or all("/deployments/" not in p for _, p in fake.calls("GET"))


def test_a_configured_spelling_is_used_as_given(fake: FakeNvcf) -> None:
    with NvcfClient(target_for(fake.address, registry=False)) as client:
        spelling = detect(client, CHART, "x", "/grpc")
    assert spelling.url == "/grpc" and "target config" in spelling.how and fake.calls() == []


def test_the_run_detects_once_and_records_it(tmp_path: Path) -> None:
    calls: list[int] = []

    def compute() -> GrpcSpelling:
        calls.append(1)
        return GrpcSpelling("/grpc", "because")

    assert shared(tmp_path, compute) == shared(tmp_path, compute) == GrpcSpelling("/grpc", "because")
    assert calls == [1]
