"""Remove every secret from what the harness records: headers, bodies, URLs, error texts.

The redactor is seeded with each secret the target config holds (tokens, API key, registry
passwords); on top of that credential headers and bearer values are masked whatever they hold, so
a secret the config does not know (say one the backend echoes back) still does not leak through the
usual places.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from conformance.secrets import CREDENTIAL_HEADERS, KEYED_VALUE

MASK = "***"
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@:]+:[^/\s@]+@")


class Redactor:
    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= 4 and secret not in self._secrets:
            self._secrets = sorted([*self._secrets, secret], key=len, reverse=True)

    def text(self, value: str | None) -> str | None:
        if value is None:
            return None
        for secret in self._secrets:
            value = value.replace(secret, MASK)
        value = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", value)
        value = _USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", value)
        return KEYED_VALUE.sub(lambda m: f"{m.group(1)}{MASK}", value)

    def headers(self, headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        out: dict[str, str] = {}
        for name, value in pairs:
            key = name.lower()
            if key in CREDENTIAL_HEADERS:
                scheme = value.split(" ", 1)[0] if " " in value else ""
                shown = f"{scheme} {MASK}" if scheme else MASK
            else:
                shown = self.text(value) or ""
            out[key] = f"{out[key]}, {shown}" if key in out else shown
        return out
