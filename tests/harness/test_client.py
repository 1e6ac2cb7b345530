"""The client's contract: replies for every status, problem details, waiting, unreachable targets."""

from __future__ import annotations

import socket

import pytest
from fake_nvcf import FakeNvcf
from harness_support import target_for

from conformance.client import Nonconformant, NvcfClient, TargetServerError, TargetUnreachable, WaitTimeout


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
