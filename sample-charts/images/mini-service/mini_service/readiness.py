"""Readiness shared by the HTTP and gRPC front ends.

Both must flip at the same moment, otherwise a test comparing an NVCF
implementation's HTTP and gRPC health handling would see a skew we caused.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Readiness:
    def __init__(self, ready_delay: float) -> None:
        self._ready_at = time.monotonic() + ready_delay
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []
        self._fired = False
        self._timer: threading.Timer | None = None

    def start(self) -> None:
        remaining = self._ready_at - time.monotonic()
        if remaining <= 0:
            # Flip synchronously so a launcher checking gRPC health right after the ready line never
            # catches the instant before the timer thread runs.
            self._fire()
            return
        # A timer rather than lazy checks, because gRPC health watchers need a push when we turn ready.
        # Only what is left of the delay: binding took some of it, and the HTTP side (which compares
        # clocks) must not turn ready before the gRPC side does.
        self._timer = threading.Timer(remaining, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def on_ready(self, callback: Callable[[], None]) -> None:
        """Run `callback` once readiness is reached (immediately if it already was)."""
        with self._lock:
            if not self._fired:
                self._callbacks.append(callback)
                return
        callback()

    def _fire(self) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            self._fired = True
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def is_live(self) -> bool:
        return not self._stopping.is_set()

    def is_ready(self) -> bool:
        return not self._stopping.is_set() and time.monotonic() >= self._ready_at

    def stop(self) -> None:
        """Report not-live/not-ready from now on, so in-flight probes see the shutdown."""
        with self._lock:
            self._stopping.set()
        if self._timer is not None:
            self._timer.cancel()
