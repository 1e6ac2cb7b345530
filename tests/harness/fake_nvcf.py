"""A scriptable stand-in for an NVCF API on 127.0.0.1, for the harness's own tests.

It is deliberately dumb: each knob decides one answer (creation, deployment, the status a deployment
ends in and its reason), and every request is recorded so a test can see what the harness did.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Script:
    create_status: int = 200
    create_detail: str = ""
    deploy_status: int = 200
    deploy_detail: str = ""
    final_status: str = "ACTIVE"  # what a deployment becomes: ACTIVE | ERROR | DEPLOYING (never settles)
    error_reason: str = ""
    echo_secret: str | None = None  # put this string into every response body (a leaking backend)
    problem_json: bool = True
    # The inferenceUrl that makes a created function report health.protocol gRPC (None: no health object).
    grpc_url: str | None = None


@dataclass
class State:
    script: Script = field(default_factory=Script)
    calls: list[tuple[str, str, dict[str, str], str]] = field(default_factory=list)
    functions: dict[str, dict[str, Any]] = field(default_factory=dict)  # version id → function


class _Handler(BaseHTTPRequestHandler):
    server: FakeNvcf
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        return None

    def _reply(self, status: int, body: Any = None, problem: bool = False) -> None:
        script = self.server.state.script
        data = b""
        if body is not None:
            if script.echo_secret and isinstance(body, dict):
                body = {**body, "leak": script.echo_secret}
            data = json.dumps(body).encode()
        self.send_response(status)
        kind = "application/problem+json" if problem and script.problem_json else "application/json"
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        if script.echo_secret:
            self.send_header("X-Debug", script.echo_secret)
        self.end_headers()
        self.wfile.write(data)

    def _problem(self, status: int, detail: str) -> None:
        self._reply(status, {"type": "about:blank", "title": "Bad Request", "status": status, "detail": detail,
                             "instance": self.path}, problem=True)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        state = self.server.state
        state.calls.append((self.command, self.path, dict(self.headers.items()), raw))
        script = state.script
        parts = self.path.split("?")[0].strip("/").split("/")
        if self.command == "POST" and parts[:3] == ["v2", "nvcf", "functions"] and len(parts) in (3, 5):
            if script.create_status >= 300:
                return self._problem(script.create_status, script.create_detail)
            body = json.loads(raw or "{}")
            fid = parts[3] if len(parts) == 5 else str(uuid.uuid4())
            function = {**body, "id": fid, "versionId": str(uuid.uuid4()), "status": "INACTIVE"}
            if script.grpc_url is not None:
                grpc = body.get("inferenceUrl") == script.grpc_url
                function["health"] = {"protocol": "gRPC" if grpc else "HTTP", "uri": "/v2/health/ready"}
            state.functions[function["versionId"]] = function
            return self._reply(200, {"function": function})
        if parts[:4] == ["v2", "nvcf", "deployments", "functions"] and len(parts) == 7:
            function = state.functions.get(parts[6])
            if function is None:
                return self._problem(404, "no such version")
            if self.command == "POST":
                if script.deploy_status >= 400:
                    return self._problem(script.deploy_status, script.deploy_detail)
                function["status"] = script.final_status
                return self._reply(200, {"deployment": {"functionStatus": "DEPLOYING"}})
            if self.command == "GET":
                info = [{"error": script.error_reason}] if function["status"] == "ERROR" else []
                return self._reply(200, {"deployment": {"functionStatus": function["status"], "healthInfo": info}})
            if self.command == "DELETE":
                function["status"] = "INACTIVE"
                return self._reply(200, {"function": function})
        if parts[:3] == ["v2", "nvcf", "functions"] and len(parts) == 6:
            function = state.functions.get(parts[5])
            if function is None or function.get("deleted"):
                return self._problem(404, "no such version")
            if self.command == "GET":
                return self._reply(200, {"function": function})
            if self.command == "DELETE":
                function["deleted"] = True
                return self._reply(204)
        if parts[:4] == ["v2", "nvcf", "pexec", "functions"]:
            body = json.loads(raw or "{}")
            outputs = body.get("inputs", [])
            return self._reply(200, {"model_name": "echo", "outputs": outputs})
        return self._problem(404, f"no route {self.path}")

    do_GET = do_POST = do_DELETE = do_PUT = _handle


class FakeNvcf(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = State()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def start(self) -> FakeNvcf:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def calls(self, method: str | None = None) -> list[tuple[str, str]]:
        return [(m, p) for m, p, _, _ in self.state.calls if method is None or m == method]
