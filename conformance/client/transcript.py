"""The ordered record of what one test exchanged with the target, already redacted."""

from __future__ import annotations

import threading

from conformance.report.model import Exchange

# Bodies beyond this are cut: a transcript is for reading, and a 300-object chart error can be long.
MAX_BODY_CHARS = 64 * 1024


def clip(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_BODY_CHARS:
        return text
    return text[:MAX_BODY_CHARS] + f"... [{len(text) - MAX_BODY_CHARS} more characters]"


class Transcript:
    def __init__(self) -> None:
        self._items: list[Exchange] = []
        self._lock = threading.Lock()

    def add(self, exchange: Exchange) -> None:
        with self._lock:
            self._items.append(exchange)

    @property
    def exchanges(self) -> tuple[Exchange, ...]:
        with self._lock:
            return tuple(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def last(self) -> Exchange | None:
        with self._lock:
            return self._items[-1] if self._items else None
