"""Secrets in report output: scrub raw captures, then refuse any file that still carries a secret.

Two layers, on purpose. Raw captures (transcripts, cluster objects, the effective config) may legitimately
hold credentials the plugin missed, so they are scrubbed: sensitive headers and keys, Secret data, and
every known secret string. Everything else (messages, names) is not rewritten: a secret there means a
defect upstream, and silently editing a certification report would hide it. The guard then checks the
final bytes of every file and refuses to write any report that contains a secret, naming the file only.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import Any

from conformance.errors import ConformanceError
from conformance.report.model import Exchange
from conformance.secrets import CREDENTIAL_HEADERS, is_secret_key

REDACTED = "<redacted>"

# Below this length a base64 fragment is too generic to mean anything (it would match random text).
_MIN_B64_LEN = 6


class SecretLeakError(ConformanceError):
    """A report file would contain a secret. The message names the files, never the secret."""

    def __init__(self, files: Iterable[str]) -> None:
        self.files = tuple(files)
        super().__init__(
            "refusing to write the report: a secret would appear in " + ", ".join(self.files)
            + " (fix the component that put it there; nothing was written)"
        )


def _clean(secrets: Iterable[str | None]) -> tuple[str, ...]:
    # Longest first so a secret that contains another is replaced whole.
    unique = {s for s in secrets if s and s.strip()}
    return tuple(sorted(unique, key=len, reverse=True))


def base64_forms(secret: str) -> tuple[str, ...]:
    """Substrings any base64 text that encodes `secret` must contain, for each of the 3 alignments.

    A pull secret's `.dockerconfigjson` carries the password as base64 of `user:password`, so the
    literal check alone would miss it; the middle of each alignment's encoding is fixed regardless of
    the neighbouring bytes.
    """
    raw = secret.encode()
    forms: list[str] = []
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode().rstrip("=")
        # Drop the chars that mix in the unknown neighbours on the left and the (possibly partial) tail.
        start = (offset * 4 + 2) // 3
        end = len(encoded) - (1 if (offset + len(raw)) % 3 else 0)
        fragment = encoded[start:end]
        if len(fragment) >= _MIN_B64_LEN:
            forms.append(fragment)
    return tuple(forms)


class Redactor:
    """Scrubs known secrets and credential-shaped fields out of raw captures."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self.secrets = _clean(secrets)

    def text(self, value: str) -> str:
        for secret in self.secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        return {k: (REDACTED if k.lower() in CREDENTIAL_HEADERS else self.text(str(v))) for k, v in headers.items()}

    def value(self, data: Any) -> Any:
        """A deep, JSON-shaped copy of `data` with every known secret string replaced."""
        if isinstance(data, str):
            return self.text(data)
        if isinstance(data, Mapping):
            return {str(k): self.value(v) for k, v in data.items()}
        if isinstance(data, list | tuple):
            return [self.value(v) for v in data]
        return data

    def config(self, data: Any, key: str = "") -> Any:
        """Like `value`, and credential-named keys (token, apiKey, password…) lose their values too.

        Only for configuration: in cluster objects `secretName` or `imagePullSecrets` are the evidence.
        """
        if isinstance(data, Mapping):
            return {str(k): self.config(v, str(k)) for k, v in data.items()}
        if isinstance(data, list | tuple):
            return [self.config(v, key) for v in data]
        sensitive = is_secret_key(key)
        if sensitive and data not in (None, "", False, True):
            return REDACTED
        return self.value(data)

    def exchange(self, exchange: Exchange) -> dict[str, Any]:
        """One transcript exchange as a dict, credential headers blanked and secrets replaced."""
        data = asdict(exchange)
        data["request_headers"] = self.headers(exchange.request_headers or {})
        data["response_headers"] = self.headers(exchange.response_headers or {})
        return self.value(data)

    def cluster_object(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """A cluster object with Secret payloads blanked: an injected pull secret carries registry creds."""
        out = self.value(obj)
        if isinstance(out, dict) and out.get("kind") == "Secret":
            for field in ("data", "stringData"):
                if isinstance(out.get(field), dict):
                    out[field] = {k: REDACTED for k in out[field]}
        return out


class SecretGuard:
    """Refuses bytes that contain a secret, literally or base64-encoded, before anything is written."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._needles: list[bytes] = []
        for secret in _clean(secrets):
            self._needles.append(secret.encode())
            self._needles.extend(form.encode() for form in base64_forms(secret))

    def leaks(self, content: bytes, name: str = "") -> bool:
        if not self._needles:
            return False
        haystacks = [content]
        if name.endswith((".tgz", ".gz")):
            # A chart archive is compressed: look inside, or the check would be meaningless.
            with contextlib.suppress(OSError, EOFError, zlib.error):
                haystacks.append(gzip.decompress(content))
        return any(needle in hay for hay in haystacks for needle in self._needles)

    def check(self, files: Mapping[str, bytes]) -> None:
        bad = sorted(name for name, content in files.items() if self.leaks(content, name))
        if bad:
            raise SecretLeakError(bad)
