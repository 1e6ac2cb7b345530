"""Invocation: pexec (answer or request id + polling) and Host-routed pass-through.

A function that exists but is not ACTIVE (or DEGRADING, which still serves) is answered with
**503 Service Unavailable**: the id is right, the function just cannot serve now, and the detail says
its status. An unknown function or version is 404. This is the reference's choice; NVCF's docs do
not state one.

`inactive_invocation="404-first"` does what NVIDIA's invocation service does instead
(`http-invocation/.../routes/post_pexec.rs`): it authorises and looks the function up first, through
the API's `FunctionInvocationValidationService`, which answers 404 for a function with no ACTIVE or
DEGRADING version (400 when one is DEGRADED), and only then reads NVCF-POLL-SECONDS, for pexec and
pass-through alike. `refusal_texts="nvidia"` words those refusals as NVIDIA does, and parses the
header as it does (a u64; its error detail is only the outermost context, "failed to parse poll
duration", because the service sends `err.to_string()` of an anyhow error).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response

from reference.api.common import services
from reference.auth import Principal, authorize, require
from reference.config import MAX_POLL_SECONDS, STREAMING_POLL_SECONDS, Behaviour
from reference.hosts import InvocationTarget
from reference.invoker import call_function, function_headers, new_request_id, nvcf_status
from reference.models import problem_responses
from reference.ports import INVOCABLE_STATUSES, ForwardRequest, ForwardResponse
from reference.problems import Problem, problem_response
from reference.store import FunctionRow, InvocationRow, Store

log = logging.getLogger("reference.invocation")
router = APIRouter(prefix="/v2/nvcf/pexec", tags=["invocation"])
EXPOSED = "NVCF-REQID, NVCF-STATUS, NVCF-POLL-SECONDS"
# Mutants (`reference serve --violate RULE`), each breaking the one behaviour its rule documents.
POLL_SECONDS_MAX = "INVOKE-POLL-SECONDS-MAX"  # NVCF-POLL-SECONDS above 3600 is taken
PEXEC_POLL = "INVOKE-PEXEC-POLL"  # the poll window is ignored: pexec always waits for the answer
PEXEC_ANSWER = "INVOKE-PEXEC-ANSWER"  # a direct answer carries no NVCF-REQID
PEXEC_VERSION = "INVOKE-PEXEC-VERSION"  # pexec of a named version is answered 404
STATUS_UNKNOWN = "INVOKE-STATUS-UNKNOWN"  # polling an unknown request id answers 202 in-progress
INACTIVE_NOT_SERVED = "INVOKE-INACTIVE-NOT-SERVED"  # a function that cannot serve accepts the call (202)
SERVICE_ROUTED = "MINI-SERVICE-ROUTED"  # pexec goes to / instead of the function's inferenceUrl
PASSTHROUGH_STATUS = "INVOKE-PASSTHROUGH-STATUS"  # the function's 4xx/5xx become the gateway's 502
# NVIDIA's invocation service, when NVCF-POLL-SECONDS is not a u64 or above 3600.
NVIDIA_POLL_ERROR = "failed to parse poll duration"
_U64 = re.compile(r"^\+?[0-9]+$")
PollHeader = Annotated[
    str | None,
    Header(alias="NVCF-POLL-SECONDS", description="Seconds to wait for the answer before 202 (1-3600)"),
]


class NotServing(Problem):
    """The function exists but cannot serve now (the INVOKE-INACTIVE-NOT-SERVED mutant serves it anyway)."""


def poll_window(value: str | None, accept: str | None, default: int,
                violations: Collection[str] = frozenset(), behaviour: Behaviour | None = None) -> int:
    if behaviour is not None and behaviour.refusal_texts == "nvidia":
        return _nvidia_poll_window(value, accept, default, violations)
    if value is None or not value.strip():
        return STREAMING_POLL_SECONDS if "text/event-stream" in (accept or "") else default
    try:
        seconds = int(value.strip())
    except ValueError:
        raise Problem(400, "NVCF-POLL-SECONDS must be a whole number of seconds") from None
    if seconds > MAX_POLL_SECONDS and POLL_SECONDS_MAX not in violations:
        raise Problem(400, f"NVCF-POLL-SECONDS may be at most {MAX_POLL_SECONDS}")
    return max(seconds, 1)


def _nvidia_poll_window(value: str | None, accept: str | None, default: int, violations: Collection[str]) -> int:
    """NVIDIA's `poll_duration`: a present header must be a u64 (empty is not), then at least 1, at most 3600."""
    if value is None:
        return STREAMING_POLL_SECONDS if (accept or "").strip() == "text/event-stream" else default
    text = value.strip()
    if not _U64.match(text) or int(text) > 2**64 - 1:
        raise Problem(400, NVIDIA_POLL_ERROR)
    seconds = max(int(text), 1)
    if seconds > MAX_POLL_SECONDS and POLL_SECONDS_MAX not in violations:
        raise Problem(400, NVIDIA_POLL_ERROR)
    return seconds


def _not_found_text(function_id: str, version_id: str | None, nca_id: str, ours: str, behaviour: Behaviour) -> str:
    if behaviour.refusal_texts != "nvidia":
        return ours
    # FunctionInvocationValidationService.MESG_FUNCTION_NOT_FOUND; Java formats an absent version as null.
    return (f"Function id '{function_id}' version '{version_id or 'null'}': "
            f"Specified function in account '{nca_id}' is not found")


def _cannot_serve(function_id: str, version_id: str | None, rows: list[FunctionRow], ours: str, nca_id: str,
                  behaviour: Behaviour) -> NotServing:
    """The refusal of a function none of whose (named) versions can serve now."""
    if behaviour.inactive_invocation == "503":
        return NotServing(503, ours)
    if any(r.status == "DEGRADED" for r in rows):
        # NVIDIA refuses a DEGRADED function as a bad request, not as a missing one.
        detail = (f"Function id '{function_id}': DEGRADED function cannot be invoked"
                  if behaviour.refusal_texts == "nvidia" else ours)
        return NotServing(400, detail)
    return NotServing(404, _not_found_text(function_id, version_id, nca_id, ours, behaviour))


def resolve(store: Store, function_id: str, version_id: str | None, behaviour: Behaviour | None = None,
            nca_id: str = "") -> FunctionRow:
    """The version to invoke: the one named, or the newest invocable one."""
    behaviour = behaviour or Behaviour()
    if version_id:
        row = store.get_version(function_id, version_id)
        if row is None:
            raise Problem(404, _not_found_text(function_id, version_id, nca_id,
                                               f"function {function_id} has no version {version_id}", behaviour))
        if row.status not in INVOCABLE_STATUSES:
            raise _cannot_serve(function_id, version_id, [row], (
                f"function {function_id} version {version_id} is {row.status}, not ACTIVE: "
                "it cannot serve invocations until a deployment makes it ACTIVE"), nca_id, behaviour)
        return row
    rows = store.versions_of(function_id)
    if not rows:
        raise Problem(404, _not_found_text(function_id, None, nca_id, f"there is no function {function_id}",
                                           behaviour))
    ready = [r for r in rows if r.status in INVOCABLE_STATUSES]
    if not ready:
        seen = ", ".join(f"{r.version.version_id} {r.status}" for r in rows)
        raise _cannot_serve(function_id, None, rows, (
            f"function {function_id} has no ACTIVE version ({seen}): deploy one and wait for ACTIVE before "
            "invoking"), nca_id, behaviour)
    return ready[-1]


def _answer(answer: ForwardResponse, request_id: str) -> Response:
    response = Response(content=answer.body, status_code=answer.status)
    for name, value in answer.headers:
        response.raw_headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
    response.raw_headers += [
        (b"nvcf-reqid", request_id.encode()),
        (b"nvcf-status", nvcf_status(answer.status).encode()),
        (b"access-control-expose-headers", EXPOSED.encode()),
    ]
    return response


def _in_progress(request_id: str, poll: int) -> Response:
    return Response(status_code=202, headers={
        "NVCF-REQID": request_id, "NVCF-STATUS": "in-progress", "NVCF-POLL-SECONDS": str(poll),
        "Access-Control-Expose-Headers": EXPOSED,
    })


def _record_response(row: InvocationRow, poll: int) -> Response:
    if row.state == "pending":
        return _in_progress(row.request_id, poll)
    return _answer(ForwardResponse(row.status_code or 502, row.headers, row.body), row.request_id)


async def _pexec(request: Request, function_id: str, version_id: str | None, poll_header: str | None) -> Response:
    svc = services(request)
    violations, behaviour = svc.config.violations, svc.config.behaviour

    def window() -> int:
        return poll_window(poll_header, request.headers.get("accept"), svc.config.default_poll_seconds, violations,
                           behaviour)

    # The reference reads the header first; NVIDIA's invocation service looks the function up first.
    header_first = behaviour.inactive_invocation == "503"
    poll = window() if header_first else 0
    try:
        row = resolve(svc.store, function_id, version_id, behaviour, svc.config.nca_id)
    except NotServing:
        if INACTIVE_NOT_SERVED in violations:
            return _in_progress(new_request_id(), poll if header_first else window())
        raise
    if not header_first:
        poll = window()
    request_id = new_request_id()
    fn = row.version
    path = fn.inference_url if fn.inference_url.startswith("/") else "/" + fn.inference_url
    if SERVICE_ROUTED in violations:
        path = "/"
    forward = ForwardRequest(
        method="POST", path=path, query="",
        headers=function_headers(fn, request_id, svc.config.nca_id, list(request.headers.items()), violations),
        body=await request.body(),
    )
    if PEXEC_POLL in violations:
        poll = max(poll, svc.config.default_poll_seconds)
    record = await svc.invoker.submit(fn, forward, request_id, poll, request.url.path)
    response = _record_response(record, poll)
    if PEXEC_ANSWER in violations and response.status_code != 202:
        del response.headers["nvcf-reqid"]
    return response


_PEXEC_RESPONSES = {
    200: {"description": "the function's answer"},
    202: {"description": "still running: poll /v2/nvcf/pexec/status/{NVCF-REQID}"},
    **problem_responses(400, 401, 403, 404, 413, 502, 503, 504),
}
_ANY_BODY = {"requestBody": {"required": False, "content": {"application/json": {"schema": {}}}}}


@router.post("/functions/{function_id}", summary="Invoke a function", responses=_PEXEC_RESPONSES,
             openapi_extra=_ANY_BODY)
async def pexec_function(
    function_id: str, request: Request, _: Annotated[Principal, require("invoke_function")],
    nvcf_poll_seconds: PollHeader = None,
) -> Response:
    return await _pexec(request, function_id, None, nvcf_poll_seconds)


@router.post("/functions/{function_id}/versions/{version_id}", summary="Invoke a function version",
             responses=_PEXEC_RESPONSES, openapi_extra=_ANY_BODY)
async def pexec_version(
    function_id: str, version_id: str, request: Request, _: Annotated[Principal, require("invoke_function")],
    nvcf_poll_seconds: PollHeader = None,
) -> Response:
    if PEXEC_VERSION in services(request).config.violations:
        raise Problem(404, "invoking a named function version is not supported here")
    return await _pexec(request, function_id, version_id, nvcf_poll_seconds)


@router.get("/status/{request_id}", summary="Poll for the answer of an invocation", responses={
    200: {"description": "the function's answer"},
    202: {"description": "still running"},
    **problem_responses(400, 401, 403, 404),
})
async def pexec_status(
    request_id: str, request: Request, _: Annotated[Principal, require("invoke_function")],
    nvcf_poll_seconds: PollHeader = None,
) -> Response:
    svc = services(request)
    poll = poll_window(nvcf_poll_seconds, request.headers.get("accept"), svc.config.default_poll_seconds,
                       svc.config.violations, svc.config.behaviour)
    if svc.store.get_invocation(request_id) is None:
        if STATUS_UNKNOWN in svc.config.violations:
            return _in_progress(request_id, poll)
        raise Problem(404, f"there is no invocation request {request_id}")
    return _record_response(await svc.invoker.wait(request_id, poll), poll)


async def passthrough(request: Request, target: InvocationTarget) -> Response:
    """Host-routed invocation: method, path, query and body go to the function unchanged."""
    try:
        svc = services(request)
        authorize(request, ("invoke_function",))
        function_id = target.function_id
        version_id = target.version_id
        if function_id is None:
            function_id = request.headers.get("function-id", "").strip()
            version_id = request.headers.get("function-version-id", "").strip() or None
            if not function_id:
                raise Problem(400, f"a request to {request.headers.get('host')} needs a 'function-id' header "
                                   "(or address <function-id>.invocation.<gateway>)")
        row = resolve(svc.store, function_id, version_id, svc.config.behaviour, svc.config.nca_id)
        if svc.config.behaviour.inactive_invocation == "404-first":
            # NVIDIA's pass-through goes through the same handler as pexec, which reads the header
            # (after the lookup) even though pass-through answers are never polled.
            poll_window(request.headers.get("nvcf-poll-seconds"), request.headers.get("accept"),
                        svc.config.default_poll_seconds, svc.config.violations, svc.config.behaviour)
        request_id = new_request_id()
        incoming = [(k, v) for k, v in request.headers.items()
                    if k.lower() not in ("function-id", "function-version-id")]
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        forward = ForwardRequest(
            method=request.method,
            path=raw_path.decode("latin-1"),
            query=request.scope.get("query_string", b"").decode("latin-1"),
            headers=function_headers(row.version, request_id, svc.config.nca_id, incoming, svc.config.violations),
            body=await request.body(),
        )
        answer = await call_function(svc.data_plane, row.version, forward,
                                     svc.config.invocation_timeout_seconds, request.url.path)
        if answer.status >= 400 and PASSTHROUGH_STATUS in svc.config.violations:
            raise Problem(502, f"the function answered {answer.status}")
        return _answer(answer, request_id)
    except Problem as problem:
        return problem_response(problem, request.url.path)
