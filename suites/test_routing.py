"""Pass-through routing: a version named in the Host, the header form, and what of a request reaches the function."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from conformance.client import Nonconformant, NvcfClient
from conformance.client.http import Reply
from conformance.client.kserve import EchoAnswer, echo_request
from conformance.plugin import ChartRef, DeployedFunction, Expect, Functions
from suites._helpers import identity_configuration
from suites._probe import probe_report

pytestmark = pytest.mark.case("minimal-http")
# Repeated and empty parameters, and values that need percent-encoding: the parts a gateway mangles.
QUERY = "alpha=1&beta=two%20words&alpha=3&empty=&sym=%26%3D%2F"
METHODS = ("PUT", "PATCH", "DELETE")


def _two_versions(chart: ChartRef, functions: Functions) -> tuple[DeployedFunction, DeployedFunction]:
    """Two ACTIVE versions of one function, whose answers are signed `first` and `second`."""
    first = functions.deployed(chart, configuration=identity_configuration("first"))
    return first, functions.deployed_version(first, configuration=identity_configuration("second"))


def _signed(reply: Reply, how: str) -> tuple[str | None, str | None, str | None]:
    """(served-by, NVCF-FUNCTION-ID, NVCF-FUNCTION-VERSION-ID) of the echo in `reply`."""
    answer = EchoAnswer.of(reply.expect(200))
    seen = answer.metadata()
    served_by = answer.parameters.get("served-by")
    if not isinstance(served_by, str):
        raise Nonconformant(f"{how}: the answer is not signed by a mini-service ({reply.text[:200]!r})",
                            "wrong-answer")
    return served_by, seen.get("nvcf-function-id"), seen.get("nvcf-function-version-id")


def _served_by(reply: Reply, deployed: DeployedFunction, name: str, how: str) -> None:
    """A FAIL unless `deployed`'s own mini-service (signed `name`) answered."""
    served_by, _, version = _signed(reply, how)
    if (served_by, version) != (name, deployed.version_id):
        raise Nonconformant(f"{how} for version {deployed.version_id} ({name}) was answered by {served_by!r} with "
                            f"NVCF-FUNCTION-VERSION-ID {version!r}", "wrong-answer")


@pytest.mark.rule("INVOKE-ROUTE-VERSION-HOST")
def test_version_in_the_host_name(chart: ChartRef, functions: Functions, nvcf: NvcfClient, expect: Expect) -> None:
    first, second = _two_versions(chart, functions)
    for deployed, name in ((first, "first"), (second, "second")):
        reply = nvcf.passthrough(deployed.function_id, "POST", chart.inference_url, version_id=deployed.version_id,
                                 json_body=echo_request("by-host"))
        _served_by(reply, deployed, name, f"Host {deployed.version_id}.{deployed.function_id}.invocation.<gw>")
    expect.observed("invocation-answered", "each version answered the requests its Host name addressed to it")


@pytest.mark.rule("INVOKE-ROUTE-HEADERS")
def test_function_and_version_headers(chart: ChartRef, functions: Functions, nvcf: NvcfClient,
                                      expect: Expect) -> None:
    first, second = _two_versions(chart, functions)
    for deployed, name in ((first, "first"), (second, "second")):
        reply = nvcf.passthrough_by_headers(deployed.function_id, "POST", chart.inference_url,
                                            version_id=deployed.version_id, json_body=echo_request("by-headers"))
        _served_by(reply, deployed, name, "function-id + function-version-id headers")
    # Without a version header any of the function's versions may answer, but one of them must.
    reply = nvcf.passthrough_by_headers(first.function_id, "POST", chart.inference_url,
                                        json_body=echo_request("by-function-header"))
    served_by, function_id, _ = _signed(reply, "a function-id header")
    if served_by not in ("first", "second") or function_id != first.function_id:
        raise Nonconformant(f"a function-id header for {first.function_id} was answered by {served_by!r} with "
                            f"NVCF-FUNCTION-ID {function_id!r}", "wrong-answer")
    expect.observed("invocation-answered", f"both versions by headers; function-id alone reached {served_by}")


@pytest.mark.rule("INVOKE-PASSTHROUGH-QUERY")
def test_query_string_reaches_the_function(chart: ChartRef, functions: Functions, expect: Expect) -> None:
    deployed = functions.deployed(chart)
    seen = probe_report(deployed.probe(f"/probe/query?{QUERY}")).get("query")
    wanted = parse_qs(QUERY, keep_blank_values=True)
    if seen != wanted:
        raise Nonconformant(f"the mini-service got the query {seen!r} for ?{QUERY} (expected {wanted!r})",
                            "wrong-answer")
    expect.observed("invocation-answered", f"?{QUERY} arrived as sent")


@pytest.mark.rule("INVOKE-PASSTHROUGH-METHOD")
def test_method_and_body_reach_the_function(chart: ChartRef, functions: Functions, nvcf: NvcfClient,
                                            expect: Expect) -> None:
    deployed = functions.deployed(chart)
    for method in METHODS:
        path = f"/probe/{method.lower()}"
        body = f"{method}-body ".encode() * (METHODS.index(method) + 2)  # a size of its own per method
        seen = probe_report(nvcf.passthrough(deployed.function_id, method, path, body=body,
                                             headers={"Content-Type": "application/octet-stream"}))
        got = (seen.get("method"), seen.get("path"), seen.get("body_bytes"))
        if got != (method, path, len(body)):
            raise Nonconformant(f"{method} {path} with {len(body)} bytes reached the mini-service as "
                                f"{got[0]} {got[1]} with {got[2]} bytes", "wrong-answer")
    expect.observed("invocation-answered", f"{', '.join(METHODS)} arrived with their path and body")
