"""HTTP front end: KServe v2 REST, raw echo and the /probe introspection endpoint."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections import deque
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from mini_service import SERVER_NAME, __version__, introspect
from mini_service.config import Config
from mini_service.echo_model import (
    DEFAULT_VERSION,
    InferError,
    Models,
    answer_parameters,
    infer_json,
    requested_delay,
)
from mini_service.readiness import Readiness

# Large enough for NVCF's large-payload cases, small enough that a runaway client cannot exhaust memory.
MAX_BODY_BYTES = 256 * 1024 * 1024


_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
# A caller tags a request with this header to learn later, from /probe's `marks`, whether it arrived.
MARK_HEADER = "X-Probe-Mark"
MAX_MARKS = 256


# generate_stream's bounds: enough to see a stream, too little for a caller to pin a thread for long.
MAX_STREAM_COUNT = 100
MAX_STREAM_INTERVAL_MS = 10_000


def _stream_number(params: dict[str, Any], key: str, default: int, highest: int) -> int:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= highest:
        raise ValueError(f"parameters.{key} must be an integer between 0 and {highest}")
    return value


class _BodyError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Server(ThreadingHTTPServer):
    # Keep-alive handler threads must not hold up shutdown.
    daemon_threads = True
    # Lets a restarted probe rebind its port at once instead of waiting out TIME_WAIT.
    allow_reuse_address = True

    def __init__(self, config: Config, readiness: Readiness) -> None:
        self.config = config
        self.readiness = readiness
        self.models = Models(config.models)
        # The X-Probe-Mark of the latest requests, oldest first: evidence that a request the platform
        # says it dropped never reached the function.
        self.marks: deque[str] = deque(maxlen=MAX_MARKS)
        self.marks_lock = threading.Lock()
        if ":" in config.host:
            self.address_family = socket.AF_INET6
        super().__init__((config.host, config.http_port), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # HTTP/1.1 keeps connections open, which is what NVCF gateways and load generators expect.
    protocol_version = "HTTP/1.1"
    server_version = f"{SERVER_NAME}/{__version__}"

    # ---- plumbing -------------------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.config.access_log:
            sys.stderr.write(f"{SERVER_NAME} http {self.address_string()} {format % args}\n")

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length_text = self.headers.get("Content-Length")
        if not length_text:
            return b""
        try:
            length = int(length_text)
        except ValueError:
            raise _BodyError(HTTPStatus.BAD_REQUEST, "invalid Content-Length") from None
        if length < 0:
            raise _BodyError(HTTPStatus.BAD_REQUEST, "invalid Content-Length")
        if length > MAX_BODY_BYTES:
            raise _BodyError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body larger than {MAX_BODY_BYTES} bytes")
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        # http.server does not undo chunked framing, and proxies in front of the probe may use it.
        parts: list[bytes] = []
        total = 0
        while True:
            size_line = self.rfile.readline(1024)
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BodyError(HTTPStatus.BAD_REQUEST, "invalid chunk size") from None
            if size == 0:
                # Drain optional trailers up to the blank line that ends the message.
                while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            total += size
            if total > MAX_BODY_BYTES:
                raise _BodyError(
                    HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body larger than {MAX_BODY_BYTES} bytes"
                )
            parts.append(self.rfile.read(size))
            self.rfile.readline(8)  # the CRLF that closes each chunk

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: Any) -> None:
        body = json.dumps(payload, separators=(",", ":"), default=str).encode()
        self._send(status, body, "application/json")

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message})

    def _dispatch(self) -> None:
        mark = self.headers.get(MARK_HEADER)
        if mark:
            with self.server.marks_lock:
                self.server.marks.append(mark[:200])
        try:
            body = self._read_body()
        except _BodyError as exc:
            # The unread body would corrupt the next request on this connection.
            self.close_connection = True
            self._error(exc.status, str(exc))
            return
        try:
            self._route(body)
        except Exception as exc:  # the probe must answer, not drop the connection
            self.close_connection = True
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(exc).__name__}: {exc}")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    # ---- routing --------------------------------------------------------------------------------

    def _route(self, body: bytes) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path).rstrip("/") or "/"
        parts = path.strip("/").split("/")
        method = self.command

        if parts[0] == "probe":
            self._probe(url.query, body)
        elif path == "/echo":
            if method != "POST":
                self._error(HTTPStatus.METHOD_NOT_ALLOWED, "use POST")
                return
            self._send(HTTPStatus.OK, body, self.headers.get("Content-Type", "application/octet-stream"))
        elif parts[0] == "v2":
            self._v2(method, parts[1:], body)
        else:
            self._error(HTTPStatus.NOT_FOUND, f"no route for {path}")

    def _v2(self, method: str, parts: list[str], body: bytes) -> None:
        readiness = self.server.readiness
        if parts == []:
            if method != "GET":
                self._error(HTTPStatus.METHOD_NOT_ALLOWED, "use GET")
                return
            self._json(HTTPStatus.OK, {"name": SERVER_NAME, "version": __version__, "extensions": []})
            return
        if parts[0] == "health" and len(parts) == 2 and parts[1] in ("live", "ready"):
            ok = readiness.is_live() if parts[1] == "live" else readiness.is_ready()
            status = HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE
            self._json(status, {parts[1]: ok})
            return
        if parts[0] != "models" or len(parts) < 2:
            self._error(HTTPStatus.NOT_FOUND, f"no route for /v2/{'/'.join(parts)}")
            return

        model, rest = parts[1], parts[2:]
        version: str | None = None
        if len(rest) >= 2 and rest[0] == "versions":
            version, rest = rest[1], rest[2:]
        if not self.server.models.knows(model):
            self._error(HTTPStatus.NOT_FOUND, f"unknown model {model!r}")
            return

        if rest == [] and method == "GET":
            self._json(HTTPStatus.OK, self.server.models.metadata(model, version))
        elif rest == ["ready"] and method == "GET":
            ready = readiness.is_ready()
            status = HTTPStatus.OK if ready else HTTPStatus.SERVICE_UNAVAILABLE
            self._json(status, {"name": model, "ready": ready})
        elif rest == ["infer"] and method == "POST":
            self._infer(model, version, body)
        elif rest == ["generate_stream"] and method == "POST":
            self._generate_stream(model, version, body)
        elif rest in ([], ["ready"], ["infer"], ["generate_stream"]):
            self._error(HTTPStatus.METHOD_NOT_ALLOWED, f"{method} not allowed here")
        else:
            self._error(HTTPStatus.NOT_FOUND, f"no route for {self.path}")

    # ---- endpoints ------------------------------------------------------------------------------

    def _infer(self, model: str, version: str | None, body: bytes) -> None:
        if not self.server.readiness.is_ready():
            # Answering before readiness would hide an NVCF implementation that routes too early.
            self._error(HTTPStatus.SERVICE_UNAVAILABLE, "not ready")
            return
        try:
            request = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self._error(HTTPStatus.BAD_REQUEST, f"body is not JSON: {exc}")
            return
        try:
            reflected = answer_parameters(list(self.headers.items()))
            response = infer_json(model, version, request, reflected)
            delay = requested_delay(request.get("parameters", {}).get("delay_seconds"))
        except InferError as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))
            return
        time.sleep(delay)
        self._json(HTTPStatus.OK, response)

    def _generate_stream(self, model: str, version: str | None, body: bytes) -> None:
        """Triton's generate_stream: server-sent events, each written and flushed on its own, so a harness can
        tell a stream relayed as it comes from one buffered until its end (`stream_interval_ms` apart)."""
        if not self.server.readiness.is_ready():
            self._error(HTTPStatus.SERVICE_UNAVAILABLE, "not ready")
            return
        try:
            request = json.loads(body or b"{}")
            if not isinstance(request, dict) or not isinstance(request.get("parameters") or {}, dict):
                raise ValueError("the body must be a JSON object, and its parameters too")
            params = request.get("parameters") or {}
            count = _stream_number(params, "stream_count", 1, MAX_STREAM_COUNT)
            interval = _stream_number(params, "stream_interval_ms", 0, MAX_STREAM_INTERVAL_MS)
        except (UnicodeDecodeError, ValueError) as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))
            return
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for index in range(count):
                if index:
                    time.sleep(interval / 1000)
                event = {"model_name": model, "model_version": version or DEFAULT_VERSION,
                         "text_output": request.get("text_input", ""), "index": index, "count": count,
                         "sent_at": time.time()}
                self._chunk(f"id: {index}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n".encode())
            self._chunk(b"")  # the last chunk: the answer is complete
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the caller went away mid-stream

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _probe(self, query: str, body: bytes) -> None:
        # `?status=NNN` answers with that status and `?delay=S` answers late: together they let a
        # harness check that pass-through invocation returns the function's own status unchanged and
        # that a slow answer goes through 202 + polling.
        params = parse_qs(query)
        try:
            delay = requested_delay((params.get("delay") or [None])[0])
            status = int((params.get("status") or ["200"])[0])
            if not 200 <= status <= 599:
                raise ValueError
        except (InferError, ValueError):
            self._error(HTTPStatus.BAD_REQUEST, "status must be 200-599 and delay 0-60 seconds")
            return
        time.sleep(delay)
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        # Whether a credential reached the function is observable; its value must never be echoed
        # into a harness transcript or report.
        for key in _CREDENTIAL_HEADERS & headers.keys():
            headers[key] = "***"
        facts = introspect.process_facts()
        with self.server.marks_lock:
            marks = list(self.server.marks)
        self._json(
            HTTPStatus(status),
            {
                "method": self.command,
                "path": urlsplit(self.path).path,
                "query": parse_qs(query, keep_blank_values=True),
                "headers": headers,
                "body_bytes": len(body),
                "marks": marks,
                "client": self.client_address[0],
                "pod": introspect.pod_identity(),
                "env": introspect.redacted_env(),
                "values": introspect.read_values(self.server.config.values_dir),
                "values_dir": self.server.config.values_dir,
                "models": list(self.server.config.models),
                "ready": self.server.readiness.is_ready(),
                "server": {"name": SERVER_NAME, "version": __version__},
                **facts,
            },
        )


class HttpFrontEnd:
    """The HTTP listener, served from a background thread."""

    def __init__(self, config: Config, readiness: Readiness) -> None:
        self._server = _Server(config, readiness)
        self._thread = threading.Thread(target=self._server.serve_forever, name="http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        # shutdown() waits for serve_forever to return, so it would hang if that never started.
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
