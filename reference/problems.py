"""RFC 7807 problem details: the one error shape every failure of the API is answered with."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import Match

PROBLEM_JSON = "application/problem+json"
# The `type` of NVIDIA's own refusals (nv-boot's BadRequestException: "urn:nv-boot:problem-details:" and
# the exception's name in kebab case), used when the server words refusals as NVIDIA does.
NVIDIA_BAD_REQUEST = "urn:nv-boot:problem-details:bad-request"
CRASH_DETAIL = "the reference server failed on this request; its log has the cause"
log = logging.getLogger("reference.problems")


class Problem(Exception):
    """Raise anywhere in a request to answer with a problem document.

    `type` stays `about:blank` unless a problem has semantics beyond its status code, in which case the
    RFC asks `title` to be the status phrase, which is what we do. `type_=None` leaves the member out
    (RFC 9457 §3.1.1 reads that as about:blank). `validation` marks a refusal of the request's shape
    or fields, whose `type` the server may be told to leave out (as Spring does for bean validation).
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        type_: str | None = "about:blank",
        title: str | None = None,
        validation: bool = False,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}
        self.type = type_
        self.title = title or _phrase(status)
        self.validation = validation


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_body(status: int, detail: str, instance: str, *, type_: str | None = "about:blank",
                 title: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": type_} if type_ is not None else {}
    body.update({"title": title or _phrase(status), "status": status, "detail": detail, "instance": instance})
    return body


def problem_response(problem: Problem, instance: str, *, validation_type: bool = True) -> Response:
    """The problem document; `validation_type=False` leaves `type` out of validation problems."""
    type_ = problem.type if validation_type or not problem.validation else None
    body = problem_body(problem.status, problem.detail, instance, type_=type_, title=problem.title)
    return JSONResponse(body, status_code=problem.status, headers=problem.headers, media_type=PROBLEM_JSON)


def as_validation(problem: Problem) -> Problem:
    """Mark a 400 as a refusal of the request itself (its shape or fields); other statuses stay as they are."""
    if problem.status == 400:
        problem.validation = True
    return problem


def _validation_type(request: Request) -> bool:
    """Whether this server gives validation problems a `type` (its config says; True without one)."""
    services = getattr(request.app.state, "services", None)
    config = getattr(services, "config", None)
    behaviour = getattr(config, "behaviour", None)
    return bool(getattr(behaviour, "problem_type_on_validation", True))


# --- turning framework errors into problems -------------------------------------------------------

_TYPE_WORDS = {
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "string_type": "must be a string",
    "bool_type": "must be a boolean",
    "bool_parsing": "must be a boolean",
    "float_type": "must be a number",
    "list_type": "must be an array",
    "dict_type": "must be a JSON object",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "missing": "is required",
    "string_too_long": "is too long",
    "value_error": "is not valid",
}


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """('body', 'deploymentSpecifications', 0, 'gpu') → deploymentSpecifications[0].gpu"""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def describe_errors(errors: list[dict[str, Any]], *, what: str = "request body") -> str:
    """One sentence per pydantic error, never echoing the input (it may hold a secret)."""
    lines: list[str] = []
    for err in errors:
        kind = err.get("type", "")
        if kind == "json_invalid":
            return f"the {what} is not valid JSON"
        path = field_path(err.get("loc", ()))
        if kind == "literal_error":
            expected = (err.get("ctx") or {}).get("expected", "")
            words = f"must be one of {expected}" if expected else "has a value that is not allowed"
        else:
            words = _TYPE_WORDS.get(kind) or str(err.get("msg", "is not valid")).lower()
        lines.append(f"'{path}' {words}" if path else f"the {what} {words}")
    # A union type reports one error per member; saying the same thing twice helps nobody.
    unique = list(dict.fromkeys(lines))
    return "Invalid request: " + "; ".join(unique[:10])


def _allowed_methods(request: Request) -> str:
    """Every method some route serves on this path.

    Starlette's own Allow names only the first partially matching route's methods, while GET and POST
    of one path are separate routes here; asking the router "would METHOD match fully?" is the one
    check that does not depend on how routers nest.
    """
    allowed = []
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
        probe = {**request.scope, "method": method}
        if any(route.matches(probe)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return ", ".join(allowed)


def install_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return problem_response(exc, request.url.path, validation_type=_validation_type(request))

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers or {})
        if exc.status_code == 404:
            detail = f"nothing is served at {request.method} {request.url.path}"
        elif exc.status_code == 405:
            allowed = _allowed_methods(request)
            headers = {k: v for k, v in headers.items() if k.lower() != "allow"}
            headers["Allow"] = allowed
            detail = f"{request.method} is not supported on {request.url.path} (supported: {allowed})"
        else:
            detail = str(exc.detail)
        problem = Problem(exc.status_code, detail, headers=headers)
        return problem_response(problem, request.url.path)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        detail = describe_errors(list(exc.errors()), what="request")
        return problem_response(Problem(400, detail, validation=True), request.url.path,
                                validation_type=_validation_type(request))

    async def on_crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(Problem(500, CRASH_DETAIL), request.url.path)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(Exception, on_crash)
