"""Self-hosted routing by Host header: one address serves the API and pass-through invocation.

    api.<gw>, <gw>, anything else          → the API (plain paths)
    <fid>.invocation.<gw>                  → function fid, newest ACTIVE version
    <vid>.<fid>.invocation.<gw>            → that version
    invocation.<gw> + function-id[, function-version-id] headers → the same, chosen by headers
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from reference.config import normalise_gateway, strip_port


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


class HostRouterMiddleware:
    def __init__(self, app: ASGIApp, gateway_domain: str, passthrough: PassThrough) -> None:
        self.app = app
        self.gateway = normalise_gateway(gateway_domain)
        self.passthrough = passthrough

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = ""
            for raw_name, raw_value in scope.get("headers", []):
                if raw_name.lower() == b"host":
                    host = raw_value.decode("latin-1")
                    break
            target = invocation_target(host, self.gateway)
            if target is not None:
                response = await self.passthrough(Request(scope, receive), target)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
