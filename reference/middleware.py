"""ASGI layers around the app: request log with secrets redacted, crash answers, the request-body bound."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reference.problems import CRASH_DETAIL, Problem, problem_response

access_log = logging.getLogger("reference.access")
crash_log = logging.getLogger("reference.problems")

# Header values never written anywhere; Authorization keeps its scheme so a log still tells
# "Bearer" from "Basic" when debugging a 401.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"})
REDACTED = "<redacted>"


def redact_header(name: str, value: str) -> str:
    if name.lower() not in SECRET_HEADERS:
        return value
    if name.lower() in ("authorization", "proxy-authorization") and " " in value.strip():
        return f"{value.strip().split(' ', 1)[0]} {REDACTED}"
    return REDACTED


class AccessLogMiddleware:
    """One line per request: who, what, status, time and the headers (redacted). Never bodies."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            headers = {}
            for raw_name, raw_value in scope.get("headers", []):
                name = raw_name.decode("latin-1").lower()
                headers[name] = redact_header(name, raw_value.decode("latin-1"))
            client = scope.get("client") or ("-", 0)
            # The query string is left out: pass-through invocations forward arbitrary ones.
            access_log.info(
                "%s %s %s -> %d in %.1f ms headers=%s", client[0], scope.get("method"), scope.get("path"), status,
                (time.monotonic() - started) * 1000, headers,
            )


class CrashMiddleware:
    """Answers an exception no handler took with a 500 problem and keeps the connection open.

    Starlette's own last-resort handler answers too, but then re-raises, and uvicorn closes the
    connection on any exception: the client's next request on it would fail for no fault of its own.
    Only when the answer had already begun is the exception passed on (the connection must go then).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_and_note(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        except Exception:
            if started:
                raise
            crash_log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            await problem_response(Problem(500, CRASH_DETAIL), scope.get("path", "/"))(scope, receive, send)


class BodyLimitMiddleware:
    """Refuses bodies over `max_bytes` with 413 before anything parses them.

    A declared Content-Length is checked without reading; otherwise (chunked uploads) the body is
    read up to the bound and then replayed to the app, so no handler ever sees a partial body.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = Problem(
            413, f"the request body is larger than the {self.max_bytes} bytes this server accepts",
            headers={"Connection": "close"},
        )
        await problem_response(problem, scope.get("path", "/"))(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for raw_name, raw_value in scope.get("headers", []):
            if raw_name.lower() == b"content-length":
                try:
                    declared = int(raw_value)
                except ValueError:
                    declared = -1
                if declared > self.max_bytes:
                    await self._refuse(scope, receive, send)
                    return
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
