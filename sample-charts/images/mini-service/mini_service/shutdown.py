"""SIGTERM/SIGINT handling that never does real work inside a signal handler.

Python runs a signal handler on the main thread between two bytecodes, wherever that thread is,
even inside a handler that is already running. A handler that takes a lock (`threading.Event.set`
does) deadlocks when the signal lands while that lock is held, and from then on the probe ignores
every SIGTERM while its ports stay open. So the Python handler here does nothing: the interpreter's
C-level handler writes the signal number to a socket (`signal.set_wakeup_fd`), and an ordinary
thread reads it. The first signal asks for a graceful stop; a second one, or a graceful stop that
overruns its deadline, ends the process at once with `os._exit`:

- 128 + signal number (143 for SIGTERM, 130 for SIGINT): a second signal cut the stop short;
- STOP_OVERRAN_STATUS: the graceful stop did not finish in time.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Sequence
from types import FrameType, TracebackType
from typing import Any

# The shell's convention for "ended by signal N"; a launcher reading the status sees which one.
FORCED_EXIT_BASE = 128
# Distinct from 1 (cannot listen) and 2 (bad configuration).
STOP_OVERRAN_STATUS = 3
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _only_wake(signum: int, frame: FrameType | None) -> None:
    # Installing a Python handler is what makes the C handler write to the wakeup socket; the
    # watcher thread does the rest, so nothing here can block or re-enter.
    return None


class SignalShutdown:
    """Arms the stop signals for a `with` block; `wait()` returns once the first one arrived.

    Main thread only (a rule of the `signal` module). When a stop was requested the signals stay
    armed after the block, on purpose: the process is on its way out, and a second signal or an
    overrunning exit (threads being joined, say) must still end it.
    """

    def __init__(self, stop_deadline: float, signals: Sequence[int] = STOP_SIGNALS) -> None:
        self._stop_deadline = stop_deadline
        self._signals = tuple(signals)
        self._requested = threading.Event()
        self._previous_handlers: dict[int, Any] = {}
        self._previous_wakeup_fd = -1
        self._reader, self._writer = socket.socketpair()
        # set_wakeup_fd requires it: the C handler must never block on a full buffer.
        self._writer.setblocking(False)
        self._watcher = threading.Thread(target=self._watch, name="shutdown-signals", daemon=True)

    def __enter__(self) -> SignalShutdown:
        self._watcher.start()
        self._previous_wakeup_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        for signum in self._signals:
            self._previous_handlers[signum] = signal.signal(signum, _only_wake)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._requested.is_set():
            self._disarm()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a stop signal arrived (True) or `timeout` passed (False)."""
        return self._requested.wait(timeout)

    def _disarm(self) -> None:
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(self._previous_wakeup_fd)
        self._writer.close()  # the watcher reads EOF and ends
        self._watcher.join(1.0)
        self._reader.close()

    def _next_signal(self, deadline: float | None) -> int | None:
        """The next stop signal's number; None once disarmed; TimeoutError at `deadline` (monotonic)."""
        while True:
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:  # settimeout(0) would mean "non-blocking", not "time is up"
                    raise TimeoutError
                self._reader.settimeout(remaining)
            data = self._reader.recv(1)
            if not data:
                return None
            # The wakeup socket hears every signal with a Python handler, also ones a library installed.
            if data[0] in self._signals:
                return data[0]

    def _watch(self) -> None:
        if self._next_signal(None) is None:
            return
        self._requested.set()
        try:
            second = self._next_signal(time.monotonic() + self._stop_deadline)
        except TimeoutError:
            os._exit(STOP_OVERRAN_STATUS)
        if second is not None:
            os._exit(FORCED_EXIT_BASE + second)
