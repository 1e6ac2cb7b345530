"""Where the client sends pass-through calls addressed by headers, and what the gRPC client puts in metadata."""

from __future__ import annotations

import httpx
import pytest
from harness_support import API_KEY, target_for

from conformance.client import NvcfClient
from conformance.client.grpc import GrpcInvoker
from conformance.client.redact import Redactor
from conformance.client.transcript import Transcript
from conformance.target.config import load_target


def _recording_client(target: object) -> tuple[NvcfClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    return NvcfClient(target, http=httpx.Client(transport=httpx.MockTransport(handler))), seen  # type: ignore[arg-type]


def test_header_form_goes_to_the_invocation_host_of_a_self_hosted_gateway() -> None:
    client, seen = _recording_client(target_for("203.0.113.10:80"))
    client.passthrough_by_headers("fid", "PUT", "probe?a=1", version_id="vid", body=b"x")
    request = seen[0]
    assert request.method == "PUT"
    assert (request.url.host, request.url.path, request.url.query) == ("203.0.113.10", "/probe", b"a=1")
    assert request.headers["host"] == "invocation.203.0.113.10:80"
    assert (request.headers["function-id"], request.headers["function-version-id"]) == ("fid", "vid")
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    client.passthrough_by_headers("fid", "GET", "/x")
    assert "function-version-id" not in seen[1].headers


def test_header_form_goes_to_the_invocation_url_of_a_hosted_target() -> None:
    target = load_target(environ={}, overrides={
        "nvcf.api_url": "https://api.example.test", "nvcf.invoke_url": "https://invoke.example.test/",
        "nvcf.token": "t", "nvcf.api_key": "k"})
    client, seen = _recording_client(target)
    client.passthrough_by_headers("fid", "POST", "/echo", json_body={"a": 1})
    assert str(seen[0].url) == "https://invoke.example.test/echo"
    assert seen[0].headers["function-id"] == "fid"


@pytest.mark.parametrize(("function_id", "version_id", "key", "wanted"), [
    ("f", "v", True, [("authorization", f"Bearer {API_KEY}"), ("function-id", "f"), ("function-version-id", "v")]),
    (None, None, True, [("authorization", f"Bearer {API_KEY}")]),
    ("f", None, False, [("function-id", "f")]),
])
def test_grpc_metadata_leaves_out_what_a_refusal_test_omits(function_id: str | None, version_id: str | None,
                                                              key: bool, wanted: list[tuple[str, str]]) -> None:
    invoker = GrpcInvoker(target_for("127.0.0.1:1", **{"nvcf.grpc": "127.0.0.1:1"}), transcript=Transcript(),
                          redactor=Redactor([]))
    try:
        assert invoker.metadata(function_id, version_id, key=key) == wanted
    finally:
        invoker.close()
