"""Self-hosted routing by Host header: one address serves the API and the invocation plane.

    api.<gw>, <gw>, anything else          → the API (management; pexec too when `pexec_on_api_host`)
    invocation.<gw>                        → the invocation plane: pexec and its status polls by path
    <fid>.invocation.<gw>                  → pass-through to function fid, newest ACTIVE version
    <vid>.<fid>.invocation.<gw>            → pass-through to that version
    invocation.<gw> + function-id[, function-version-id] headers → pass-through, chosen by headers

This is how NVIDIA's gateway splits the planes: `api.<gw>` reaches the management API, whose pexec
controller is only a stub answering 404, and `invocation.<gw>` reaches the invocation service, which
serves pexec by path unless the host or a `function-id` header names a function.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from reference.config import normalise_gateway, strip_port
from reference.problems import Problem, problem_response

PEXEC_PREFIX = "/v2/nvcf/pexec"
# The paths the invocation plane serves by path (everything else there is a 404, as on NVIDIA's).
_INVOCATION_PATHS = (PEXEC_PREFIX + "/", "/health")


@dataclass(frozen=True)
class InvocationTarget:
    """Who a pass-through request is for; None fields are to be taken from the headers."""

    function_id: str | None
    version_id: str | None


def invocation_target(host: str, gateway: str) -> InvocationTarget | None:
    """The target named by a Host header, or None when the request is for the API."""
    name = strip_port(host.strip().lower()).rstrip(".")
    base = f"invocation.{gateway}"
    if name == base:
        return InvocationTarget(None, None)
    if not name.endswith("." + base):
        return None
    labels = name[: -len(base) - 1].split(".")
    if len(labels) == 1 and labels[0]:
        return InvocationTarget(labels[0], None)
    if len(labels) == 2 and all(labels):
        # The left label is the version: <vid>.<fid>.invocation.<gw>.
        return InvocationTarget(labels[1], labels[0])
    return InvocationTarget("", None)  # malformed: answered as an unknown function


PassThrough = Callable[[Request, InvocationTarget], Awaitable[Response]]


def _header(scope: Scope, wanted: bytes) -> str:
    for raw_name, raw_value in scope.get("headers", []):
        if raw_name.lower() == wanted:
            return str(raw_value.decode("latin-1"))
    return ""


class HostRouterMiddleware:
    def __init__(self, app: ASGIApp, gateway_domain: str, passthrough: PassThrough,
                 pexec_on_api_host: bool = True) -> None:
        self.app = app
        self.gateway = normalise_gateway(gateway_domain)
        self.passthrough = passthrough
        self.pexec_on_api_host = pexec_on_api_host

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        target = invocation_target(_header(scope, b"host"), self.gateway)
        if target is None:
            if path.startswith(PEXEC_PREFIX + "/") and not self.pexec_on_api_host:
                await self._not_here(scope, receive, send, "the API host does not serve invocations: send pexec "
                                     f"and its status polls to invocation.{self.gateway}")
                return
            await self.app(scope, receive, send)
            return
        by_path = target.function_id is None and not _header(scope, b"function-id").strip()
        if by_path:
            if path.startswith(_INVOCATION_PATHS):
                await self.app(scope, receive, send)
            else:
                await self._not_here(scope, receive, send, f"invocation.{self.gateway} serves {PEXEC_PREFIX}/...; "
                                     "address a function with <function-id>.invocation.<gw> or a 'function-id' "
                                     "header")
            return
        response = await self.passthrough(Request(scope, receive), target)
        await response(scope, receive, send)

    @staticmethod
    async def _not_here(scope: Scope, receive: Receive, send: Send, detail: str) -> None:
        response = problem_response(Problem(404, detail), str(scope.get("path", "")))
        await response(scope, receive, send)
