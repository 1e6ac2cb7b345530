"""The harness's NVCF client: typed REST calls, pexec polling, pass-through and gRPC invocation,
and a redacted transcript of every exchange."""

from conformance.client.errors import Nonconformant, TargetServerError, TargetUnreachable, WaitTimeout
from conformance.client.http import (
    FUNCTION_STATUSES,
    Invocation,
    NvcfClient,
    ProblemDetails,
    Reply,
    StatusWatch,
    reason_text,
)
from conformance.client.redact import Redactor
from conformance.client.transcript import Transcript

__all__ = [
    "FUNCTION_STATUSES",
    "Invocation",
    "Nonconformant",
    "NvcfClient",
    "ProblemDetails",
    "Redactor",
    "Reply",
    "StatusWatch",
    "TargetServerError",
    "TargetUnreachable",
    "Transcript",
    "WaitTimeout",
    "reason_text",
]
