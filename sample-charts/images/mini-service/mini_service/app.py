"""Process wiring: parse config, bind both listeners, announce, wait for a signal."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mini_service import SERVER_NAME
from mini_service.config import Config, ConfigError, parse
from mini_service.readiness import Readiness
from mini_service.shutdown import SignalShutdown

if TYPE_CHECKING:  # grpcio is only imported once the flags parsed (see main)
    from mini_service.grpc_api import GrpcFrontEnd
    from mini_service.http_api import HttpFrontEnd

# The gRPC listener gives in-flight calls this long to finish; the HTTP one stops within its 0.5 s poll.
GRPC_STOP_GRACE = 2.0
# Past this, a stop that hangs (a wedged thread, a join that never returns) is cut short: a probe
# that keeps its ports after SIGTERM is worse than one that exits uncleanly.
STOP_DEADLINE = 4.0


def _fail(message: str, status: int) -> int:
    print(f"{SERVER_NAME}: error: {message}", file=sys.stderr, flush=True)
    return status


def _bind(config: Config) -> tuple[Readiness, HttpFrontEnd | None, GrpcFrontEnd | None]:
    """Both listeners, bound but not serving yet; OSError (nothing left bound) when one cannot be."""
    # Imported here so `--help` and flag errors stay fast and never need grpcio.
    from mini_service.grpc_api import GrpcFrontEnd
    from mini_service.http_api import HttpFrontEnd

    # After the slow imports: the ready delay counts from when the probe can actually serve.
    readiness = Readiness(config.ready_delay)
    http_front = HttpFrontEnd(config, readiness) if config.http_port else None
    try:
        grpc_front = GrpcFrontEnd(config, readiness) if config.grpc_port else None
    except OSError:
        if http_front is not None:
            http_front.stop()
        raise
    return readiness, http_front, grpc_front


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = parse(argv)
    except ConfigError as exc:
        return _fail(str(exc), 2)

    # Armed before binding so a launcher's early SIGTERM still ends in a clean exit.
    with SignalShutdown(STOP_DEADLINE) as shutdown:
        try:
            readiness, http_front, grpc_front = _bind(config)
        except OSError as exc:
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

        shutdown.wait()
        readiness.stop()
        if grpc_front is not None:
            grpc_front.stop(GRPC_STOP_GRACE)
        if http_front is not None:
            http_front.stop()
    return 0
