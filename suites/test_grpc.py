"""gRPC helm functions: `inferenceUrl` `/gRPC`, invocation with `function-id` metadata, grpc.health.v1.

Only GRPC-URL-MARKS-FUNCTION is about the spelling the docs give (`/gRPC`); the other rules use the
`grpc_chart` fixture, which carries the spelling the backend honours (see conformance/plugin/grpc_spelling.py),
so a backend that wants NVIDIA's `/grpc` is judged on invocation and health, not on the spelling again.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from conformance.client import Nonconformant
from conformance.plugin import ChartRef, DeployedFunction, Expect, Functions
from conformance.plugin.grpc_spelling import DOCUMENTED, reported_protocol
from conformance.target.config import TargetConfig
from suites._helpers import identity_configuration, ready_delay_configuration

pytestmark = pytest.mark.case("grpc")


def _infer_ok(grpc_invoker: Any, deployed: DeployedFunction, **kwargs: Any) -> Any:
    reply = grpc_invoker.model_infer(deployed.function_id, text="grpc-conformance", **kwargs)
    if not reply.ok:
        raise Nonconformant(f"gRPC ModelInfer through NVCF failed: {reply.code} {reply.details}", "wrong-answer")
    contents = list(reply.message.outputs[0].contents.bytes_contents) if reply.message.outputs else []
    if contents != [b"grpc-conformance"]:
        raise Nonconformant(f"the gRPC answer is not the mini-service's echo: {reply.message}", "wrong-answer")
    return reply


def _serving(grpc_invoker: Any, deployed: DeployedFunction) -> None:
    health = grpc_invoker.health(deployed.function_id)
    if not health.ok or health.message.status != 1:  # SERVING
        raise Nonconformant(f"grpc.health.v1 through NVCF: {health.code} {health.message}", "wrong-answer")


@pytest.mark.rule("GRPC-URL-MARKS-FUNCTION")
def test_grpc_url_marks_function(chart: ChartRef, functions: Functions, grpc_invoker: Any, expect: Expect) -> None:
    assert chart.inference_url == DOCUMENTED
    created = functions.create(chart)
    # A backend that reports the protocol it chose has already answered: no deployment needs to time out.
    if created.ok and reported_protocol(created) == "HTTP":
        raise Nonconformant(f"a function created with inferenceUrl {DOCUMENTED} reports health.protocol HTTP: "
                            "the documented spelling does not mark it as a gRPC function", "deployed-violating")
    deployed = functions.activate(chart, created)
    _serving(grpc_invoker, deployed)
    expect.observed("deployed-conformant", "ACTIVE with gRPC health SERVING")


@pytest.mark.rule("DOC-EXAMPLE-GRPC-NOTE")
def test_grpc_note_as_written(chart: ChartRef, functions: Functions, grpc_invoker: Any, expect: Expect) -> None:
    # The note writes the key `inferenceURL` (the API's field is `inferenceUrl`) and the value `/gRPC`.
    created = functions.create(chart, inferenceUrl=None, inferenceURL=DOCUMENTED)
    if created.ok and reported_protocol(created) == "HTTP":
        raise Nonconformant("a function created as the gRPC note writes it reports health.protocol HTTP",
                            "deployed-violating")
    deployed = functions.activate(chart, created)
    _serving(grpc_invoker, deployed)
    expect.observed("deployed-conformant", '{"inferenceURL": "/gRPC"} deployed as a gRPC function, SERVING')


@pytest.mark.rule("GRPC-INVOCATION")
def test_grpc_invocation(grpc_chart: ChartRef, functions: Functions, grpc_invoker: Any, expect: Expect) -> None:
    deployed = functions.deployed(grpc_chart)
    _infer_ok(grpc_invoker, deployed)
    expect.observed("invocation-answered", "ModelInfer echoed through NVCF")


@pytest.mark.rule("GRPC-VERSION-METADATA")
def test_grpc_version_metadata(grpc_chart: ChartRef, functions: Functions, grpc_invoker: Any,
                               expect: Expect) -> None:
    # Two versions of one function, each told its own name: only the version asked for may answer.
    first = functions.deployed(grpc_chart, configuration=identity_configuration("first"))
    second = functions.deployed_version(first, configuration=identity_configuration("second"))
    for deployed, name in ((first, "first"), (second, "second")):
        reply = _infer_ok(grpc_invoker, deployed, version_id=deployed.version_id)
        # The probe reflects the metadata it received as `metadata.<key>`, and its name as `served-by`.
        params = {k: v.string_param for k, v in reply.message.parameters.items()}
        seen = params.get("metadata.function-version-id")
        if seen != deployed.version_id or params.get("served-by") != name:
            raise Nonconformant(f"asked for version {deployed.version_id} ({name}), answered by "
                                f"{params.get('served-by')!r} with function-version-id {seen!r}", "wrong-answer")
    expect.observed("invocation-answered", f"each of versions {first.version_id} and {second.version_id} answered "
                                           "its own calls, with its function-version-id")


@pytest.mark.rule("GRPC-HEALTH-GATES-ACTIVE")
def test_grpc_health_gates_active(grpc_chart: ChartRef, functions: Functions, grpc_invoker: Any,
                                  target: TargetConfig, expect: Expect) -> None:
    configuration = ready_delay_configuration(target.timeout("ready_delay"))
    started = time.monotonic()
    deployed = functions.deployed(grpc_chart, configuration=configuration)
    _serving(grpc_invoker, deployed)
    expect.observed("lifecycle-as-documented",
                    f"{' → '.join(deployed.watch.history)} after {time.monotonic() - started:.0f} s, SERVING at ACTIVE")


@pytest.mark.rule("GRPC-URL-LOWERCASE")
def test_grpc_url_lowercase(chart: ChartRef, functions: Functions, grpc_invoker: Any, expect: Expect) -> None:
    deployed = functions.deployed(chart, inferenceUrl="/grpc")
    _serving(grpc_invoker, deployed)
    expect.observed("deployed-conformant", "/grpc deployed as a gRPC function")
