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

A call that no slot of the version takes within its poll window (see `reference.invoker.Slots`; a
version takes the sum of maxRequestConcurrency times maxInstances calls at once over its deployment's
specifications) is answered 504 and never forwarded, pexec and pass-through alike, as NVIDIA's
invocation service answers when no worker picks the request up; NVIDIA's 504 has an empty body.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response

from reference import rules
from reference.api.common import services
from reference.auth import Principal, authorize, require
from reference.config import MAX_POLL_SECONDS, STREAMING_POLL_SECONDS, Behaviour
from reference.hosts import InvocationTarget
from reference.invoker import function_headers, new_request_id, nvcf_status
from reference.models import problem_responses
from reference.ports import INVOCABLE_STATUSES, ForwardRequest, ForwardResponse
from reference.problems import Problem, problem_response
from reference.store import FunctionRow, InvocationRow, Store

log = logging.getLogger("reference.invocation")
router = APIRouter(prefix="/v2/nvcf/pexec", tags=["invocation"])
EXPOSED = "NVCF-REQID, NVCF-STATUS, NVCF-POLL-SECONDS"
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
    nvidia = behaviour is not None and behaviour.refusal_texts == "nvidia"
    if value is not None and rules.INVOKE_POLL_SECONDS_NOT_NUMBER in violations and not _U64.match(value.strip()):
        value = None
    if nvidia:
        return _nvidia_poll_window(value, accept, default, violations)
    if value is None or not value.strip():
        return STREAMING_POLL_SECONDS if "text/event-stream" in (accept or "") else default
    # A whole number of seconds, 0 or more (NVIDIA's API documents the header as a non-negative integer).
    if not _U64.match(value.strip()):
        raise Problem(400, "NVCF-POLL-SECONDS must be a whole number of seconds (0-3600)")
    return _bounded(int(value.strip()), violations, f"NVCF-POLL-SECONDS may be at most {MAX_POLL_SECONDS}",
                    "NVCF-POLL-SECONDS must be at least 1")


def _nvidia_poll_window(value: str | None, accept: str | None, default: int, violations: Collection[str]) -> int:
    """NVIDIA's `poll_duration`: a present header must be a u64 (empty is not), then at least 1, at most 3600."""
    if value is None:
        return STREAMING_POLL_SECONDS if (accept or "").strip() == "text/event-stream" else default
    text = value.strip()
    if not _U64.match(text) or int(text) > 2**64 - 1:
        raise Problem(400, NVIDIA_POLL_ERROR)
    return _bounded(int(text), violations, NVIDIA_POLL_ERROR, NVIDIA_POLL_ERROR)


def _bounded(seconds: int, violations: Collection[str], too_long: str, zero: str) -> int:
    """0 counts as the shortest window, 1 s; above 3600 is refused."""
    if seconds > MAX_POLL_SECONDS and rules.INVOKE_POLL_SECONDS_MAX not in violations:
        raise Problem(400, too_long)
    if seconds == 0 and rules.INVOKE_POLL_SECONDS_ZERO in violations:
        raise Problem(400, zero)
    return max(seconds, 1)


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


def _answer(answer: ForwardResponse, request_id: str, violations: Collection[str] = frozenset()) -> Response:
    response = Response(content=answer.body, status_code=answer.status)
    for name, value in answer.headers:
        response.raw_headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
    response.raw_headers.append((b"nvcf-reqid", request_id.encode()))
    status = nvcf_status(answer.status, violations)
    if status is not None:
        response.raw_headers.append((b"nvcf-status", status.encode()))
    response.raw_headers.append((b"access-control-expose-headers", EXPOSED.encode()))
    return response


def _in_progress(request_id: str, poll: int) -> Response:
    return Response(status_code=202, headers={
        "NVCF-REQID": request_id, "NVCF-STATUS": "in-progress", "NVCF-POLL-SECONDS": str(poll),
        "Access-Control-Expose-Headers": EXPOSED,
    })


def _record_response(row: InvocationRow, poll: int, violations: Collection[str]) -> Response:
    if row.state == "pending":
        return _in_progress(row.request_id, poll)
    return _answer(ForwardResponse(row.status_code or 502, row.headers, row.body), row.request_id, violations)


def capacity(store: Store, version_id: str) -> int | None:
    """How many calls the version takes at once: the sum of maxRequestConcurrency (default 1) times maxInstances.

    The reference does not autoscale, so every specification counts its maxInstances; a version with
    no deployment on record (None) is not bounded.
    """
    row = store.get_deployment(version_id)
    if row is None:
        return None
    total = 0
    for spec in row.deployment.specifications:
        concurrency = spec.raw.get("maxRequestConcurrency")
        total += (concurrency if isinstance(concurrency, int) and concurrency > 0 else 1) * max(spec.max_instances, 1)
    return total


def _unclaimed(request_id: str, window: float, which: str, instance: str, behaviour: Behaviour) -> Response:
    """504: no instance took the call within its window, and it was dropped without being forwarded."""
    headers = {"NVCF-REQID": request_id, "NVCF-STATUS": "errored", "Access-Control-Expose-Headers": EXPOSED}
    if behaviour.refusal_texts == "nvidia":
        return Response(status_code=504, headers=headers)  # NVIDIA's gateway_timeout_response: no body
    response = problem_response(Problem(504, (
        f"no instance of {which} took up the request within its {window:g}-second poll window (every one is "
        "busy at its maxRequestConcurrency); it was cancelled without reaching the function")), instance)
    response.headers.update(headers)
    return response


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
        if rules.INVOKE_INACTIVE_NOT_SERVED in violations:
            return _in_progress(new_request_id(), poll if header_first else window())
        raise
    if not header_first:
        poll = window()
    request_id = new_request_id()
    fn = row.version
    path = fn.inference_url if fn.inference_url.startswith("/") else "/" + fn.inference_url
    if rules.MINI_SERVICE_ROUTED in violations:
        path = "/"
    forward = ForwardRequest(
        method="POST", path=path, query="",
        headers=function_headers(fn, request_id, svc.config.nca_id, list(request.headers.items()), violations),
        body=await request.body(),
    )
    if rules.INVOKE_PEXEC_POLL in violations:
        poll = max(poll, svc.config.default_poll_seconds)
    record = await svc.invoker.submit(fn, forward, request_id, poll, request.url.path,
                                      capacity=capacity(svc.store, fn.version_id),
                                      forward_unclaimed=rules.INVOKE_PEXEC_UNCLAIMED_504 in violations)
    if record is None:
        return _unclaimed(request_id, poll, f"function {fn.function_id} version {fn.version_id}", request.url.path,
                          behaviour)
    response = _record_response(record, poll, violations)
    # Also FLAKY:… (every other answer).
    if response.status_code != 202 and svc.config.breaks(rules.INVOKE_PEXEC_ANSWER):
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
    if rules.INVOKE_PEXEC_VERSION in services(request).config.violations:
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
        if rules.INVOKE_STATUS_UNKNOWN in svc.config.violations:
            return _in_progress(request_id, poll)
        raise Problem(404, f"there is no invocation request {request_id}")
    return _record_response(await svc.invoker.wait(request_id, poll), poll, svc.config.violations)


async def passthrough(request: Request, target: InvocationTarget) -> Response:
    """Host-routed invocation: method, path, query and body go to the function unchanged."""
    try:
        svc = services(request)
        violations = svc.config.violations
        authorize(request, ("invoke_function",))
        function_id, version_id = _addressed(request, target, violations)
        row = resolve(svc.store, function_id, version_id, svc.config.behaviour, svc.config.nca_id)
        window = _passthrough_window(request, svc.config.default_poll_seconds, violations, svc.config.behaviour)
        request_id = new_request_id()
        incoming = [(k, v) for k, v in request.headers.items()
                    if k.lower() not in ("function-id", "function-version-id")]
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        forward = ForwardRequest(
            method="POST" if rules.INVOKE_PASSTHROUGH_METHOD in violations else request.method,
            path=raw_path.decode("latin-1"),
            query=("" if rules.INVOKE_PASSTHROUGH_QUERY in violations
                   else request.scope.get("query_string", b"").decode("latin-1")),
            headers=function_headers(row.version, request_id, svc.config.nca_id, incoming, violations),
            body=await request.body(),
        )
        answer = await svc.invoker.call(row.version, forward, request.url.path,
                                        capacity=capacity(svc.store, row.version.version_id), wait=window)
        if answer is None:
            return _unclaimed(request_id, window, f"function {row.version.function_id} version "
                              f"{row.version.version_id}", request.url.path, svc.config.behaviour)
        if answer.status >= 400 and rules.INVOKE_PASSTHROUGH_STATUS in violations:
            raise Problem(502, f"the function answered {answer.status}")
        return _answer(answer, request_id, violations)
    except Problem as problem:
        return problem_response(problem, request.url.path)


def _addressed(request: Request, target: InvocationTarget, violations: Collection[str]) -> tuple[str, str | None]:
    """(function id, version id or None) from the Host name, else from the function-id headers."""
    if target.function_id is not None:
        return target.function_id, None if rules.INVOKE_ROUTE_VERSION_HOST in violations else target.version_id
    function_id = request.headers.get("function-id", "").strip()
    version_id = request.headers.get("function-version-id", "").strip() or None
    if not function_id:
        raise Problem(400, f"a request to {request.headers.get('host')} needs a 'function-id' header "
                           "(or address <function-id>.invocation.<gateway>)")
    return function_id, None if rules.INVOKE_ROUTE_HEADERS in violations else version_id


def _passthrough_window(request: Request, default: int, violations: Collection[str], behaviour: Behaviour) -> int:
    """How long a pass-through call may wait for a free instance: its NVCF-POLL-SECONDS, as for pexec.

    NVIDIA's pass-through goes through the pexec handler, which reads (and refuses a bad) header after
    the lookup. The reference's own pass-through never refused one, so a bad value means the default here.
    """
    value, accept = request.headers.get("nvcf-poll-seconds"), request.headers.get("accept")
    if behaviour.inactive_invocation == "404-first":
        return poll_window(value, accept, default, violations, behaviour)
    try:
        return poll_window(value, None, default, violations, behaviour)
    except Problem:
        return default
