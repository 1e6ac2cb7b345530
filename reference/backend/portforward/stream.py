"""One port-forward stream to a pod's port through the API server (`pods/portforward`).

This is the channel `kubectl port-forward` uses: the API server dials the pod's node (the kubelet,
or on KWOK the kwok controller, which dials whatever its PortForward rule names), so this process
only ever talks to the API server. Each stream carries one TCP connection.
"""

from __future__ import annotations

import re
from typing import Any

from kubernetes import client
from kubernetes.stream import portforward

_HANDSHAKE_STATUS = re.compile(r"Handshake status (\d{3})")


class PortForwardError(Exception):
    """The API server did not open the stream; `status` is its HTTP status when it gave one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def pod_gone(self) -> bool:
        return self.status == 404


class PodPortForwarder:
    def __init__(self, configuration: client.Configuration) -> None:
        self.configuration = configuration

    def open(self, namespace: str, pod: str, port: int) -> Any:
        """A connected socket whose bytes reach `port` of `pod`; closing it ends the stream."""
        # A client of its own per stream: `portforward` swaps the client's request method while it
        # runs, which would turn another thread's ordinary API call on a shared client into a
        # websocket request.
        api_client = client.ApiClient(self.configuration)
        try:
            core = client.CoreV1Api(api_client)
            forward = portforward(core.connect_get_namespaced_pod_portforward, pod, namespace, ports=str(port))
        except client.ApiException as exc:
            text = str(exc.reason or exc)
            found = _HANDSHAKE_STATUS.search(text)
            status = int(found[1]) if found else (exc.status or None)
            raise PortForwardError(f"port-forward to pod {namespace}/{pod} port {port} failed: "
                                   f"{_first_line(text)}", status) from None
        finally:
            api_client.close()
        return PodStream(forward, port)


class PodStream:
    """The local end of one port-forward stream: a socket, plus what the API server's error channel said."""

    def __init__(self, forward: Any, port: int) -> None:
        self._forward = forward
        self._port = port
        self._socket = forward.socket(port)

    @property
    def error(self) -> str | None:
        # e.g. the kubelet (or kwok controller) could not connect to the container port.
        text = self._forward.error(self._port)
        return str(text).strip() or None if text else None

    def fileno(self) -> int:
        return int(self._socket.fileno())

    def recv(self, size: int) -> bytes:
        return bytes(self._socket.recv(size))

    def sendall(self, data: bytes) -> None:
        self._socket.sendall(data)

    def shutdown(self, how: int) -> None:
        self._socket.shutdown(how)

    def close(self) -> None:
        self._socket.close()


def _first_line(text: str) -> str:
    # The client appends the response headers and body after " -+-+- "; the status line says enough.
    return text.split(" -+-+- ", 1)[0].strip()
