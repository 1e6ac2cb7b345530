"""Request bodies nested beyond the parse bound get 400 naming it, and the connection stays usable."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ref_support import ADMIN, TOKENS, Running, assert_problem, create, gpu_spec, helm_function

from reference.api.common import MAX_JSON_DEPTH, json_depth
from reference.app import create_app
from reference.auth import TokenRegistry
from reference.config import ServerConfig
from reference.server import ServerThread

FID = "00000000-0000-0000-0000-000000000001"
VID = "00000000-0000-0000-0000-000000000002"
JSON = {"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"}


def nested(depth: int, leaf: bytes = b"1") -> bytes:
    return b'{"a":' * depth + leaf + b"}" * depth


@pytest.fixture
def connection(api: Running) -> Iterator[httpx.Client]:
    """One client, one keep-alive connection: a reset shows up as the next request failing."""
    with httpx.Client(base_url=api.url, headers=JSON, timeout=10,
                      limits=httpx.Limits(max_connections=1, max_keepalive_connections=1)) as client:
        yield client


def test_depth_is_measured_without_parsing() -> None:
    assert json_depth(b"{}") == 1
    assert json_depth(b'"plain"') == 0
    assert json_depth(b'{"a":[1,{"b":[]}]}') == 4
    # Brackets inside strings, escaped quotes included, are text, not structure.
    assert json_depth(b'{"a":"[[[{{{\\"[[[","b":["]]]"]}') == 2
    assert json_depth(b"[" * 100_000) == 100_000


def test_measuring_stays_linear_on_hostile_bodies() -> None:
    # An unterminated string of escaped quotes: a pattern that could fail would retry at every quote.
    for body in (b'"' + b'\\"' * 500_000, b'"' * 1_000_000, b'["\\' * 300_000):
        started = time.monotonic()
        json_depth(body)
        assert time.monotonic() - started < 2, body[:10]


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1000, 100_000])
def test_deep_function_bodies_are_400_naming_the_bound(connection: httpx.Client, depth: int) -> None:
    r = connection.post("/v2/nvcf/functions", content=nested(depth))
    assert_problem(r, 400, f"more than {MAX_JSON_DEPTH} levels")
    assert connection.get("/v2/nvcf/functions/ids").status_code == 200


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1000])
def test_deep_deployment_bodies_are_400_even_for_unknown_ids(connection: httpx.Client, depth: int) -> None:
    body = b'{"deploymentSpecifications":[{"configuration":' + nested(depth) + b"}]}"
    r = connection.post(f"/v2/nvcf/deployments/functions/{FID}/versions/{VID}", content=body)
    assert_problem(r, 400, f"more than {MAX_JSON_DEPTH} levels")
    assert connection.get("/v2/nvcf/functions/ids").status_code == 200


def test_deep_version_bodies_are_400(api: Running, connection: httpx.Client) -> None:
    fn = create(api.client(), helm_function("deep-version"))
    r = connection.post(f"/v2/nvcf/functions/{fn['id']}/versions", content=nested(1000))
    assert_problem(r, 400, f"more than {MAX_JSON_DEPTH} levels")
    assert connection.get(f"/v2/nvcf/functions/{fn['id']}/versions").status_code == 200


def test_nesting_up_to_the_bound_is_parsed(api: Running, connection: httpx.Client) -> None:
    fn = create(api.client(), helm_function("deep-values"))
    # The body, deploymentSpecifications and its entry: 3 levels before the values themselves.
    values = nested(MAX_JSON_DEPTH - 3, b'"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["')
    spec = gpu_spec()
    body = (b'{"deploymentSpecifications":[{' + b",".join(
        f'"{k}":{v if isinstance(v, int) else chr(34) + v + chr(34)}'.encode() for k, v in spec.items())
        + b',"configuration":' + values + b"}]}")
    assert json_depth(body) == MAX_JSON_DEPTH
    r = connection.post(f"/v2/nvcf/deployments/functions/{fn['id']}/versions/{fn['versionId']}", content=body)
    assert r.status_code == 200, r.text


def test_a_crash_answers_500_and_keeps_the_connection(tmp_path: Path) -> None:
    app = create_app(ServerConfig(db_path=tmp_path / "crash.db"), TokenRegistry(TOKENS))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    with ServerThread(app) as thread, httpx.Client(base_url=thread.url, timeout=10) as client:
        assert_problem(client.get("/boom"), 500, "its log has the cause")
        assert client.get("/health").status_code == 200
