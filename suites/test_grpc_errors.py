"""gRPC calls NVCF must refuse: no `function-id`, no credentials, a session id it never issued.

The codes are those of NVIDIA's grpc-proxy (`proxy/director.go`, `proxy/invocation/function_invoker.go`).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from conformance.client import Nonconformant
from conformance.client.grpc import GrpcReply
from conformance.plugin import ChartRef, Expect, Functions

pytestmark = pytest.mark.case("grpc")


def _refused(reply: GrpcReply, code: str, what: str) -> str:
    """`code: details` when the call was refused with `code`; a FAIL naming what came instead."""
    if reply.ok:
        raise Nonconformant(f"{what} was served: {str(reply.message)[:200]!r}", "wrong-answer")
    if reply.code != code:
        raise Nonconformant(f"{what} was refused with {reply.code} ({reply.details}), not {code}",
                            "unexpected-http-status")
    return f"{reply.code}: {reply.details}"


@pytest.mark.rule("GRPC-FUNCTION-ID-REQUIRED")
def test_call_without_function_id(grpc_invoker: Any, expect: Expect) -> None:
    # Nothing to deploy: without the metadata no function is named at all.
    reply = grpc_invoker.model_infer_with(grpc_invoker.metadata(None))
    expect.observed("invocation-refused", _refused(reply, "INVALID_ARGUMENT", "a call without function-id metadata"))


@pytest.mark.rule("GRPC-AUTH-REQUIRED")
def test_call_without_credentials(grpc_chart: ChartRef, functions: Functions, grpc_invoker: Any,
                                  expect: Expect) -> None:
    # A deployed function, so that only the missing key can explain a refusal.
    deployed = functions.deployed(grpc_chart)
    reply = grpc_invoker.model_infer_with(grpc_invoker.metadata(deployed.function_id, key=False))
    expect.observed("invocation-refused",
                    _refused(reply, "UNAUTHENTICATED", "a call without authorization metadata"))


@pytest.mark.rule("GRPC-RESUME-UNKNOWN-NOT-FOUND")
def test_resume_of_an_unknown_session(grpc_chart: ChartRef, functions: Functions, grpc_invoker: Any,
                                      expect: Expect) -> None:
    deployed = functions.deployed(grpc_chart)
    unknown = str(uuid.uuid4())
    # First on a connection of its own: NVIDIA's proxy reads nvcf-reqid when a connection opens a session.
    reply = grpc_invoker.model_infer_with([*grpc_invoker.metadata(deployed.function_id), ("nvcf-reqid", unknown)],
                                          new_connection=True)
    seen = _refused(reply, "NOT_FOUND", f"a call resuming session {unknown}, which NVCF never opened")
    # The same call without the session id is served: the NotFound was the session's, not the function's.
    plain = grpc_invoker.model_infer(deployed.function_id, text="after-resume")
    if not plain.ok:
        raise Nonconformant(f"the ACTIVE gRPC function does not serve a call without nvcf-reqid either: "
                            f"{plain.code} {plain.details}", "wrong-answer")
    expect.observed("invocation-refused", seen)
