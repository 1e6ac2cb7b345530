"""The client's contract: replies for every status, problem details, waiting, unreachable targets."""

from __future__ import annotations

import socket

import httpx
import pytest
from fake_nvcf import FakeNvcf
from harness_support import target_for

from conformance.client import Nonconformant, NvcfClient, TargetServerError, TargetUnreachable, WaitTimeout
from conformance.client.http import Reply


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_target_raises_target_unreachable_and_is_recorded() -> None:
    client = NvcfClient(target_for(f"127.0.0.1:{closed_port()}"))
    with pytest.raises(TargetUnreachable, match="no answer from"):
        client.list_functions()
    exchange = client.transcript.exchanges[0]
    assert exchange.status is None and exchange.error


def test_problem_details_parsed_and_checked(fake: FakeNvcf) -> None:
    fake.state.script.create_status = 400
    fake.state.script.create_detail = "kind DaemonSet is not allowed"
    with NvcfClient(target_for(fake.address)) as client:
        reply = client.create_function({"name": "x"})
    assert reply.status_code == 400 and reply.problem is not None
    assert reply.problem.problems_with_shape(400) == []
    assert "DaemonSet" in reply.error_text
    with pytest.raises(Nonconformant, match="expected 200"):
        reply.expect(200)


def _reply(status: int, body: object, media_type: str = "application/problem+json") -> Reply:
    response = httpx.Response(status, json=body, headers={"content-type": media_type})
    return Reply("POST", "/v2/nvcf/functions", response)


@pytest.mark.parametrize(("body", "problems"), [
    # Spring Framework 7 leaves `type` out of bean-validation 400s: RFC 9457 reads that as about:blank.
    ({"title": "Bad Request", "status": 400, "detail": "Validation failed", "instance": "/v2/nvcf/functions"}, []),
    ({"status": 400, "detail": "name must not be empty"}, []),
    ({"type": 7, "title": "Bad Request", "status": 400, "detail": "x"}, ["member 'type' is not a string"]),
    ({"type": "about:blank", "title": "Bad Request", "status": 400}, ["member 'detail' is missing"]),
    ({"title": "Bad Request", "status": 404, "detail": "x"}, ["member 'status' is 404, the HTTP status is 400"]),
])
def test_problem_shape_follows_rfc_9457(body: dict[str, object], problems: list[str]) -> None:
    problem = _reply(400, body).problem
    assert problem is not None
    assert problem.problems_with_shape(400) == problems
    assert problem.effective_type == (body["type"] if isinstance(body.get("type"), str) else "about:blank")


def test_server_error_on_the_api_is_an_environment_error_not_a_verdict(fake: FakeNvcf) -> None:
    fake.state.script.create_status = 500
    with NvcfClient(target_for(fake.address)) as client, pytest.raises(TargetServerError, match="answered 500"):
        client.create_function({"name": "x"})
    # A TargetServerError is no AssertionError, so the plugin records it as ERROR, never FAIL.
    assert not issubclass(TargetServerError, AssertionError)


def test_wait_for_status_returns_and_times_out(fake: FakeNvcf) -> None:
    with NvcfClient(target_for(fake.address)) as client:
        function = client.create_function({"name": "x"}).field("function")
        watch = client.wait_for_status(function["id"], function["versionId"], {"INACTIVE"}, 1)
        assert watch.final == "INACTIVE" and watch.history == ("INACTIVE",)
        with pytest.raises(WaitTimeout, match="did not reach ACTIVE"):
            client.wait_for_status(function["id"], function["versionId"], {"ACTIVE"}, 0.1, interval=0.02)


def test_status_polls_start_short_and_back_off(fake: FakeNvcf) -> None:
    statuses = iter(["INACTIVE", "DEPLOYING", "DEPLOYING", "DEPLOYING", "DEPLOYING", "DEPLOYING", "ACTIVE"])
    pauses: list[float] = []

    class Scripted(NvcfClient):
        def function_status(self, function_id: str, version_id: str) -> tuple[str | None, dict[str, object]]:
            return next(statuses), {}

    client = Scripted(target_for(fake.address, registry=False, **{"timeouts.poll_interval": 1.0}),
                      sleep=pauses.append)
    watch = client.wait_for_status("f", "v", {"ACTIVE"}, 60)
    assert watch.history == ("INACTIVE", "DEPLOYING", "ACTIVE")
    # 0.2 s first, then 1.5 times longer up to the configured interval; a new status starts short again.
    assert pauses == pytest.approx([0.2, 0.2, 0.3, 0.45, 0.675, 1.0])
