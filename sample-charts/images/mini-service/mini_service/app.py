"""Process wiring: parse config, bind both listeners, announce, wait for a signal."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from mini_service import SERVER_NAME
from mini_service.config import ConfigError, parse
from mini_service.readiness import Readiness


def _fail(message: str, status: int) -> int:
    print(f"{SERVER_NAME}: error: {message}", file=sys.stderr, flush=True)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = parse(argv)
    except ConfigError as exc:
        return _fail(str(exc), 2)

    # Imported after parsing so `--help` and flag errors stay fast and never need grpcio.
    from mini_service.grpc_api import GrpcFrontEnd
    from mini_service.http_api import HttpFrontEnd

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # Installed before binding so a launcher's early SIGTERM still ends in a clean exit.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    readiness = Readiness(config.ready_delay)
    http_front: HttpFrontEnd | None = None
    grpc_front: GrpcFrontEnd | None = None
    try:
        if config.http_port:
            http_front = HttpFrontEnd(config, readiness)
        if config.grpc_port:
            grpc_front = GrpcFrontEnd(config, readiness)
    except OSError as exc:
        if http_front is not None:
            http_front.stop()
        return _fail(f"cannot listen on {config.host}: {exc}", 1)

    if http_front is not None:
        http_front.start()
    if grpc_front is not None:
        grpc_front.start()
    readiness.start()

    http_text = str(http_front.port) if http_front else "off"
    grpc_text = str(grpc_front.port) if grpc_front else "off"
    # Launchers block on this exact line (see launch.parse_ready_line); nothing else goes to stdout.
    print(f"{SERVER_NAME} ready http={http_text} grpc={grpc_text}", flush=True)

    # A timed wait keeps the main thread responsive to signals on every platform.
    while not stop.wait(1.0):
        pass

    readiness.stop()
    if grpc_front is not None:
        grpc_front.stop()
    if http_front is not None:
        http_front.stop()
    return 0
