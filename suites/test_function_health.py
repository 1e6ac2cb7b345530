"""The `health` object at function creation (every field required; it decides what gates ACTIVE) and the
inferencePort default."""

from __future__ import annotations

import time
from typing import Any

import pytest

from conformance.client import Nonconformant, NvcfClient, Reply
from conformance.errors import ConformanceError
from conformance.plugin import ChartRef, Expect, Functions, params_of
from conformance.plugin.outcomes import check_answers
from conformance.target.config import TargetConfig

pytestmark = pytest.mark.case("minimal-http")

# Paths of the mini-service probe: it answers the first (200 once started), never the second (404).
SERVED_HEALTH_URI = "/v2/health/live"
UNSERVED_HEALTH_URI = "/nvcf-conformance/not-served"
# How long a function whose health check cannot pass is watched once its twin is ACTIVE: three times as
# long as the twin took, and at least twice the target's ready delay (timeouts.ready_delay: 20 s by
# default, so 40 s; 5 s on the embedded targets, whose status shows within a second).
WATCH_READY_DELAYS = 2.0
DEFAULT_INFERENCE_PORT = 8000


def _health(chart: ChartRef, uri: str) -> dict[str, Any]:
    return {"protocol": "HTTP", "uri": uri, "port": chart.inference_port, "timeout": "PT10S",
            "expectedStatusCode": 200}


@pytest.mark.rule("FN-HEALTH-FIELDS-REQUIRED")
@pytest.mark.parametrize("param", params_of("FN-HEALTH-FIELDS-REQUIRED"))
def test_health_fields_required(param: str, functions: Functions, chart: ChartRef, expect: Expect) -> None:
    health = {k: v for k, v in _health(chart, SERVED_HEALTH_URI).items() if k != param}
    expect.status(functions.create(chart, health=health), 400)


def _deploy_with_health(functions: Functions, chart: ChartRef, uri: str) -> tuple[str, str]:
    reply = functions.create(chart, health=_health(chart, uri))
    if not reply.ok:
        raise Nonconformant(f"a function with a complete health object was refused: {reply.describe()}",
                            "refused-unexpectedly")
    function = reply.field("function")
    fid, vid = str(function["id"]), str(function["versionId"])
    deploy = functions.deploy(fid, vid, functions.spec(chart))
    if not deploy.ok:
        raise Nonconformant(f"deployment refused: {deploy.describe()}", "refused-unexpectedly")
    return fid, vid


def _never_active(nvcf: NvcfClient, fid: str, vid: str, seconds: float) -> list[str]:
    """The statuses seen over `seconds` (or until ERROR); ACTIVE on the way is a FAIL."""
    history: list[str] = []
    deadline = time.monotonic() + seconds
    while True:
        status, _ = nvcf.function_status(fid, vid)
        shown = status or "NOT-FOUND"
        if not history or history[-1] != shown:
            history.append(shown)
        if status == "ACTIVE":
            raise Nonconformant(f"the function whose health uri {UNSERVED_HEALTH_URI} the mini-service does not "
                                f"serve became ACTIVE ({' → '.join(history)})", "deployed-violating")
        if status == "ERROR" or time.monotonic() >= deadline:
            return history
        time.sleep(min(nvcf.target.timeout("poll_interval"), max(deadline - time.monotonic(), 0.05)))


@pytest.mark.rule("FN-HEALTH-GATES-ACTIVE")
def test_health_object_gates_active(functions: Functions, chart: ChartRef, nvcf: NvcfClient,
                                    target: TargetConfig, expect: Expect) -> None:
    # Twins from one chart, deployed together: only the health uri differs.
    started = time.monotonic()
    served = _deploy_with_health(functions, chart, SERVED_HEALTH_URI)
    unserved = _deploy_with_health(functions, chart, UNSERVED_HEALTH_URI)
    watch = functions.wait(*served, {"ACTIVE", "ERROR"}, "timeouts.deploy_active")
    if watch.final != "ACTIVE":
        reason = nvcf.failure_reason(*served) or "no reason given"
        raise Nonconformant(f"the function whose health uri {SERVED_HEALTH_URI} the mini-service serves ended in "
                            f"{watch.final}: {reason}", "refused-unexpectedly")
    took = time.monotonic() - started
    seconds = max(WATCH_READY_DELAYS * target.timeout("ready_delay"), 3 * took)
    history = _never_active(nvcf, *unserved, seconds)
    how = "ended in ERROR" if history[-1] == "ERROR" else f"was still {history[-1]} {seconds:.0f} s later"
    expect.observed("lifecycle-as-documented",
                    f"health {SERVED_HEALTH_URI}: ACTIVE after {took:.0f} s; health {UNSERVED_HEALTH_URI}: "
                    f"{' → '.join(history)}, {how}")


def _reported_port(reply: Reply) -> int | None:
    """The inferencePort the created function reports (None: left out); another type is a FAIL."""
    port = reply.field("function").get("inferencePort")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int)):
        raise Nonconformant(f"inferencePort is reported as {port!r}, not a port number", "wrong-answer")
    return port


@pytest.mark.rule("FN-INFERENCE-PORT-DEFAULT")
def test_inference_port_defaults_to_8000(functions: Functions, chart: ChartRef, expect: Expect) -> None:
    if chart.inference_port != DEFAULT_INFERENCE_PORT:
        raise ConformanceError(f"chart case {chart.case} serves on {chart.inference_port}, not "
                               f"{DEFAULT_INFERENCE_PORT}: it cannot show the default")
    created = functions.create(chart, inferencePort=None)
    if not created.ok:
        raise Nonconformant(f"a function created without inferencePort for a chart serving on "
                            f"{DEFAULT_INFERENCE_PORT} was refused: {created.describe()}", "refused-unexpectedly")
    port = _reported_port(created)
    if port not in (None, DEFAULT_INFERENCE_PORT):
        raise Nonconformant(f"a function created without inferencePort reports inferencePort {port}, not "
                            f"{DEFAULT_INFERENCE_PORT}", "wrong-answer")
    deployed = functions.activate(chart, created)
    reported = "left out" if port is None else str(port)
    expect.observed("invocation-answered", f"inferencePort {reported}; {check_answers(deployed)} on port 8000")
