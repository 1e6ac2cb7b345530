"""Running the app with uvicorn: in the foreground (the CLI) or in a thread (tests, embedding).

The listening socket is bound before uvicorn starts, so port 0 works and the address is known (and
connections queue) before the first request can be answered.
"""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from fastapi import FastAPI

from reference.errors import ReferenceFailure


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP spelled out: asyncio only disables Nagle on accepted sockets whose proto says TCP, and
    # without that every response waits ~40 ms for a delayed ACK between its headers and its body.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        # Listening now (not when uvicorn gets to it) lets clients that read the address early connect
        # and wait in the backlog instead of being refused.
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ReferenceFailure(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port (0 picks a free one)"
        ) from exc
    return sock


def _uvicorn(app: FastAPI) -> uvicorn.Server:
    # log_config=None: logging is configured by whoever runs us; our own access log redacts tokens,
    # uvicorn's would not be needed on top.
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=5)
    return uvicorn.Server(config)


def serve_forever(app: FastAPI, sock: socket.socket) -> bool:
    """Serve until SIGINT/SIGTERM; True when the server had started (False: startup failed)."""
    server = _uvicorn(app)
    server.run(sockets=[sock])
    return bool(server.started)


class ServerThread:
    """The app on 127.0.0.1 in a background thread; `url` once `start()` returned."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 15.0) -> ServerThread:
        sock = bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        self._server = _uvicorn(self.app)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"reference-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise ReferenceFailure("the reference server stopped during startup (see its log)")
            if time.monotonic() > deadline:
                self.stop()
                raise ReferenceFailure(f"the reference server did not start within {timeout:g} s")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise ReferenceFailure(f"the reference server did not stop within {timeout:g} s")
        self._server = None
        self._thread = None

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
