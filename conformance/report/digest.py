"""The content digest of `conformance-report.yaml` and its verification.

The digest is sha256 over a canonical JSON serialisation of the whole document minus its `digest` key:
keys sorted, no whitespace, UTF-8, non-ASCII kept. JSON rather than YAML because YAML has many spellings
of one value; the writer only emits JSON-shaped data (str, int, float, bool, None, lists, maps with
string keys), which PyYAML round-trips exactly, so a reader recomputes the same bytes.

It detects edits and corruption. It is not a signature: whoever can edit the file can recompute it.
The digest covers the `files:` manifest too, so it vouches for the rest of the report folder (see
manifest.py; `verify.py` checks both). Reading is strict: a key given twice is refused (strict_yaml.py).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import yaml

from conformance.report import strict_yaml

ALGORITHM = "sha256"
DIGEST_KEY = "digest"
REPORT_FILE = "conformance-report.yaml"


class DigestProblem(Exception):
    """The report is readable but does not verify. `str()` is the one-line reason."""


class Unreadable(Exception):
    """The report cannot be read or parsed at all."""


def canonical(document: dict[str, Any]) -> bytes:
    body = {k: v for k, v in document.items() if k != DIGEST_KEY}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def compute(document: dict[str, Any]) -> dict[str, str]:
    return {"algorithm": ALGORITHM, "value": hashlib.sha256(canonical(document)).hexdigest()}


def seal(document: dict[str, Any]) -> dict[str, Any]:
    """The document with its digest as the last key."""
    _check_shape(document)
    body = {k: v for k, v in document.items() if k != DIGEST_KEY}
    return {**body, DIGEST_KEY: compute(body)}


def _check_shape(value: Any, where: str = "") -> None:
    # Anything YAML would not give back identically (tuples, dates, NaN, int keys) would make a sealed
    # report fail its own verification later; refuse it at write time instead.
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"report key {where}/{key!r} is not a string")
            _check_shape(item, f"{where}/{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_shape(item, f"{where}[{index}]")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"report value {where} is not a finite number")
    elif not isinstance(value, str | int | bool) and value is not None:
        raise TypeError(f"report value {where} has type {type(value).__name__}, not a JSON type")


def dump(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120, default_flow_style=False)


def report_path(path: str | Path) -> Path:
    """A report file, or a report folder holding `conformance-report.yaml`."""
    path = Path(path)
    return path / REPORT_FILE if path.is_dir() else path


def verify(path: str | Path) -> dict[str, Any]:
    """The verified document; raises Unreadable or DigestProblem (with a one-line reason)."""
    file = report_path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise Unreadable(f"{file}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        document = strict_yaml.load(text)
    except strict_yaml.DuplicateKey as exc:
        # The harness never writes a key twice: a second one hides the sealed value from some readers.
        raise DigestProblem(f"{file}: {exc}: a second value was added after the report was written") from None
    except yaml.YAMLError as exc:
        raise Unreadable(f"{file}: not valid YAML ({' '.join(str(exc).split())[:200]})") from None
    if not isinstance(document, dict):
        raise Unreadable(f"{file}: not a conformance report (expected a mapping)")
    recorded = document.get(DIGEST_KEY)
    if not isinstance(recorded, dict) or not isinstance(recorded.get("value"), str):
        raise DigestProblem(f"{file}: no digest in the report (it was not written by the harness or was stripped)")
    if recorded.get("algorithm") != ALGORITHM:
        raise DigestProblem(f"{file}: unsupported digest algorithm {recorded.get('algorithm')!r}")
    try:
        actual = compute(document)["value"]
    except (TypeError, ValueError) as exc:
        raise DigestProblem(f"{file}: content is not what the harness writes ({exc})") from None
    if actual != recorded["value"]:
        raise DigestProblem(f"{file}: digest mismatch: the report was changed after it was written")
    return document
