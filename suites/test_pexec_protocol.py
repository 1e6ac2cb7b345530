"""The pexec protocol around the answer: NVCF-STATUS, the NVCF-POLL-SECONDS header, and a call nobody takes up."""

from __future__ import annotations

import time
import uuid

import pytest

from conformance.client import Nonconformant, NvcfClient
from conformance.client.errors import WaitTimeout
from conformance.client.http import Reply
from conformance.client.kserve import EchoAnswer, echo_request
from conformance.errors import ConformanceError
from conformance.plugin import ChartRef, Expect, Functions
from suites._probe import MARK_HEADER, probe_report

pytestmark = pytest.mark.case("minimal-http")
# The API reference calls a pending request "in-progress or pending"; NVIDIA's service sends in-progress.
IN_PROGRESS = ("in-progress", "pending")
# Not a whole number of seconds, each a way a client gets it wrong.
NOT_NUMBERS = (("a word", "soon"), ("a fraction", "1.5"), ("a negative number", "-1"))


def _nvcf_status(reply: Reply, wanted: tuple[str, ...], what: str) -> str:
    value = reply.headers.get("nvcf-status")
    if value is None or value.strip().lower() not in wanted:
        raise Nonconformant(f"{what} ({reply.describe()}) carries NVCF-STATUS {value!r}, not "
                            f"{' or '.join(wanted)}", "wrong-answer")
    return value


@pytest.mark.rule("INVOKE-NVCF-STATUS")
def test_nvcf_status_fulfilled_and_in_progress(chart: ChartRef, functions: Functions, nvcf: NvcfClient,
                                               expect: Expect) -> None:
    deployed = functions.deployed(chart)
    direct = nvcf.pexec(deployed.function_id, echo_request("status-now"), poll_seconds=5).expect(200)
    EchoAnswer.of(direct).echoes("status-now", direct)
    _nvcf_status(direct, ("fulfilled",), "the function's 200 answer")
    # An answer 3 s late in a 1-second window: 202 first, then the status polls.
    invocation = nvcf.invoke(deployed.function_id, echo_request("status-late", delay_seconds=3), poll_seconds=1)
    if invocation.first.status_code != 202:
        raise Nonconformant(f"an answer that takes 3 s came back without a 202 inside a 1-second poll window "
                            f"({invocation.first.describe()})", "wrong-answer")
    for pending in (invocation.first, *invocation.polls[:-1]):
        _nvcf_status(pending, IN_PROGRESS, "a 202")
    final = invocation.final.expect(200)
    EchoAnswer.of(final).echoes("status-late", final)
    _nvcf_status(final, ("fulfilled",), "the polled 200 answer")
    expect.observed("invocation-answered-after-poll",
                    f"fulfilled on 200, {invocation.first.headers.get('nvcf-status')} on 202, fulfilled when polled")


@pytest.mark.rule("INVOKE-NVCF-STATUS-ERRORED")
def test_nvcf_status_errored(chart: ChartRef, functions: Functions, nvcf: NvcfClient, expect: Expect) -> None:
    deployed = functions.deployed(chart)
    # The mini-service refuses an inference without inputs with its own 400 {"error": ...}.
    reply = nvcf.pexec(deployed.function_id, {"inputs": []}, poll_seconds=5)
    body = reply.body if isinstance(reply.body, dict) else {}
    if reply.status_code != 400 or "inputs" not in str(body.get("error", "")):
        raise Nonconformant(f"the mini-service's own 400 did not come back through pexec: {reply.describe()} "
                            f"{reply.text[:200]!r}", "wrong-answer")
    _nvcf_status(reply, ("errored",), "the function's 400 answer")
    expect.observed("invocation-answered", "the mini-service's 400 came back with NVCF-STATUS errored")


@pytest.mark.rule("INVOKE-POLL-SECONDS-ZERO")
def test_poll_seconds_zero_is_one_second(chart: ChartRef, functions: Functions, nvcf: NvcfClient,
                                         expect: Expect) -> None:
    deployed = functions.deployed(chart)
    started = time.monotonic()
    quick = nvcf.pexec(deployed.function_id, echo_request("zero-now"), poll_seconds=0)
    waited = time.monotonic() - started
    if quick.status_code == 400:
        raise Nonconformant(f"NVCF-POLL-SECONDS 0 was refused: {quick.describe()}", "unexpected-http-status")
    if quick.status_code == 202 and waited < 0.5:
        raise Nonconformant(f"an immediate answer came back 202 after {waited:.2f} s: NVCF-POLL-SECONDS 0 was "
                            "taken as no window at all, not as 1 s", "wrong-answer")
    if quick.status_code != 202:  # a 202 after half a second or more: the window was open, the echo slow
        EchoAnswer.of(quick.expect(200)).echoes("zero-now", quick)
    late = nvcf.invoke(deployed.function_id, echo_request("zero-late", delay_seconds=3), poll_seconds=0)
    if late.first.status_code != 202:
        raise Nonconformant(f"an answer that takes 3 s came back without a 202 although NVCF-POLL-SECONDS 0 means "
                            f"a 1-second window ({late.first.describe()})", "wrong-answer")
    EchoAnswer.of(late.final.expect(200)).echoes("zero-late", late.final)
    expect.observed("invocation-answered-after-poll",
                    f"NVCF-POLL-SECONDS 0: {quick.status_code} for an immediate answer, 202 for a 3-s one")


@pytest.mark.rule("INVOKE-POLL-SECONDS-NOT-NUMBER")
def test_poll_seconds_not_a_number_refused(chart: ChartRef, functions: Functions, nvcf: NvcfClient,
                                           expect: Expect) -> None:
    # On an ACTIVE function: NVIDIA's invocation service looks the function up before it reads the header.
    deployed = functions.deployed(chart)
    for what, value in NOT_NUMBERS:
        reply = nvcf.pexec(deployed.function_id, echo_request("x"), headers={"NVCF-POLL-SECONDS": value})
        if reply.status_code != 400:
            raise Nonconformant(f"NVCF-POLL-SECONDS {value!r} ({what}) was not refused with 400: {reply.describe()}",
                                "unexpected-http-status")
    expect.observed("http-400", ", ".join(f"{value!r} → 400" for _, value in NOT_NUMBERS))


@pytest.mark.rule("INVOKE-PEXEC-UNCLAIMED-504")
def test_unclaimed_call_is_504_and_cancelled(chart: ChartRef, functions: Functions, nvcf: NvcfClient,
                                             expect: Expect) -> None:
    deployed = functions.deployed(chart, spec=functions.spec(chart, minInstances=1, maxInstances=1,
                                                             maxRequestConcurrency=1))
    # How long the holding call takes (timeouts.busy_hold); the second call's window is 1 s.
    hold = nvcf.target.timeout("busy_hold")
    holder, unclaimed = f"holder-{uuid.uuid4()}", f"unclaimed-{uuid.uuid4()}"
    held = nvcf.pexec(deployed.function_id, echo_request("holds", delay_seconds=hold), poll_seconds=1,
                      headers={MARK_HEADER: holder})
    if held.status_code != 202 or not held.request_id:
        raise Nonconformant(f"a call that takes {hold:g} s came back without a 202 and NVCF-REQID inside a "
                            f"1-second poll window ({held.describe()})", "wrong-answer")
    started = time.monotonic()
    reply = nvcf.pexec(deployed.function_id, echo_request("unclaimed"), poll_seconds=1,
                       headers={MARK_HEADER: unclaimed})
    waited = time.monotonic() - started
    if reply.status_code != 504:
        how = {200: "was served at once although the only instance was busy at maxRequestConcurrency 1",
               202: "was kept waiting (202) past its 1-second window instead of 504"}.get(reply.status_code,
                                                                                       "was not answered 504")
        raise Nonconformant(f"a call no instance could take up {how}: {reply.describe()} after {waited:.1f} s",
                            "unexpected-http-status")
    _finish(nvcf, held, hold)
    marks = probe_report(deployed.probe()).get("marks")
    if not isinstance(marks, list) or holder not in marks:
        raise ConformanceError(f"the mini-service's /probe lists no mark of the call that held it ({marks!r:.200}): "
                               "its image predates the request marks, or the platform dropped the X-Probe-Mark "
                               "header, so whether the 504 call was cancelled cannot be told")
    if unclaimed in marks:
        raise Nonconformant("the call answered 504 reached the function afterwards: it was not cancelled",
                            "wrong-answer")
    expect.observed("invocation-refused", f"504 after {waited:.1f} s; the call never reached the function")


def _finish(nvcf: NvcfClient, held: Reply, hold: float) -> None:
    """Poll the holding call to its answer, so the instance is free and has seen whatever it was sent."""
    deadline = time.monotonic() + hold + nvcf.target.timeout("invoke")
    reply = held
    while reply.status_code == 202:
        if time.monotonic() > deadline:
            raise WaitTimeout(f"invocation {held.request_id} still pending after {hold:g} s and "
                              "timeouts.invoke; raise timeouts.invoke if the backend is slow")
        reply = nvcf.pexec_status(str(held.request_id), poll_seconds=max(1, round(hold)))
    EchoAnswer.of(reply.expect(200)).echoes("holds", reply)
