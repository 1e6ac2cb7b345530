"""Invocation API checks: unknown request ids, undeployed functions, the poll-window limit."""

from __future__ import annotations

import pytest

from conformance.client import Nonconformant, NvcfClient
from conformance.client.kserve import echo_request
from conformance.plugin import ChartRef, Expect, Functions
from suites._helpers import unknown_id

pytestmark = pytest.mark.case("minimal-http")


@pytest.mark.rule("INVOKE-STATUS-UNKNOWN")
def test_status_of_unknown_request(nvcf: NvcfClient, expect: Expect) -> None:
    expect.status(nvcf.pexec_status(unknown_id(), poll_seconds=1), 404)


@pytest.mark.rule("INVOKE-INACTIVE-NOT-SERVED")
def test_inactive_function_not_served(functions: Functions, chart: ChartRef, nvcf: NvcfClient, expect: Expect) -> None:
    function = functions.create(chart).expect(200, 201).field("function")
    reply = nvcf.pexec(function["id"], echo_request("must-not-arrive"), poll_seconds=5)
    if reply.ok:
        raise Nonconformant(f"a function that is not deployed answered: {reply.describe()}", "wrong-answer")
    body = reply.body if isinstance(reply.body, dict) else {}
    if "outputs" in body or "model_name" in body:
        raise Nonconformant(f"the error answer comes from a mini-service: {reply.text[:200]!r}", "wrong-answer")
    expect.observed("invocation-refused", reply.describe())


@pytest.mark.rule("INVOKE-POLL-SECONDS-MAX")
def test_poll_seconds_above_max_refused(functions: Functions, chart: ChartRef, nvcf: NvcfClient,
                                        expect: Expect) -> None:
    # On an ACTIVE function: NVIDIA's invocation service looks the function up before it reads the
    # header, so a function that cannot serve is answered 404 whatever the header says.
    deployed = functions.deployed(chart)
    expect.status(nvcf.pexec(deployed.function_id, echo_request("x"), poll_seconds=3601), 400)
