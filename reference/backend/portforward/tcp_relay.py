"""A local TCP listener on 127.0.0.1 that relays every accepted connection to an upstream stream.

What the upstream is belongs to the caller: a `connect()` callable returns a connected socket (or
an object with a socket's fileno/recv/sendall/shutdown/close) for each accepted connection. The
port-forward data plane passes one that opens an API-server port-forward stream to a pod; tests
pass one that dials a local echo server.

Threads, not the server's event loop: the Kubernetes client's port-forward is blocking, and the
invoker (asyncio loop) and the gRPC proxy (its own thread and loop) both dial these listeners.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("reference.backend.portforward.tcp_relay")

Connect = Callable[[], Any]
_CHUNK = 256 * 1024
_ACCEPT_POLL = 0.2


class TcpRelay:
    def __init__(self, connect: Connect, *, name: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.connect = connect
        self.name = name
        self._listener = socket.create_server((host, port), reuse_port=False)
        # Polled, so `close()` is noticed without shutting a socket down under a blocked accept().
        self._listener.settimeout(_ACCEPT_POLL)
        self.host, self.port = self._listener.getsockname()[:2]
        self.last_error: str | None = None
        self.connections = 0  # accepted so far (diagnostics, tests)
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._open: set[Any] = set()
        self._thread = threading.Thread(target=self._accept_loop, name=f"relay {name}", daemon=True)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> TcpRelay:
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop accepting and end every relayed connection. Blocking (briefly)."""
        self._closed.set()
        with self._lock:
            sockets = list(self._open)
        for sock in sockets:
            _shutdown(sock)
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(_ACCEPT_POLL * 5)
        self._listener.close()

    @property
    def active(self) -> int:
        """Connections being relayed now (each end counts once)."""
        with self._lock:
            return len(self._open) // 2

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # the listener was closed
            self.connections += 1
            client.settimeout(None)
            threading.Thread(target=self._serve, args=(client,), name=f"relay {self.name} conn",
                             daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = self.connect()
        except Exception as exc:  # whatever the connector raises, the caller sees a closed connection
            error = f"{type(exc).__name__}: {exc}"
            level = logging.DEBUG if self.last_error == error else logging.WARNING
            self.last_error = error
            log.log(level, "relay %s: cannot reach the upstream: %s", self.name, error)
            client.close()
            return
        with self._lock:
            if self._closed.is_set():
                client.close()
                upstream.close()
                return
            self._open.update((client, upstream))
        try:
            _pump(client, upstream)
        except OSError as exc:
            log.debug("relay %s: connection ended: %s", self.name, exc)
        finally:
            with self._lock:
                self._open.discard(client)
                self._open.discard(upstream)
            # An upstream may say why it ended (a port-forward's error channel): kept for diagnostics,
            # before the client sees the end and asks.
            error = getattr(upstream, "error", None)
            if error:
                # Said once per change: a health check would otherwise repeat it every second.
                level = logging.DEBUG if self.last_error == str(error) else logging.WARNING
                self.last_error = str(error)
                log.log(level, "relay %s: the upstream ended with an error: %s", self.name, error)
            else:
                self.last_error = None
            client.close()
            upstream.close()


def _pump(client: socket.socket, upstream: Any) -> None:
    """Copy both ways until both sides are done; an EOF on one side is passed on as a half-close."""
    peer = {client.fileno(): upstream, upstream.fileno(): client}
    source = {client.fileno(): client, upstream.fileno(): upstream}
    with selectors.DefaultSelector() as selector:
        for fd in source:
            selector.register(fd, selectors.EVENT_READ)
        reading = set(source)
        while reading:
            for key, _ in selector.select():
                fd = int(key.fd)
                data = source[fd].recv(_CHUNK)
                if data:
                    peer[fd].sendall(data)
                    continue
                selector.unregister(fd)
                reading.discard(fd)
                if fd == upstream.fileno():
                    # The upstream is done: nothing more will reach the client, whatever it still sends.
                    return
                _shutdown(peer[fd], socket.SHUT_WR)


def _shutdown(sock: Any, how: int = socket.SHUT_RDWR) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(how)
