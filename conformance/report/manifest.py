"""`files:` of conformance-report.yaml: every other file of the report folder, by sha256 and size.

    files:
      junit.xml: {sha256: 9f2c…, size: 48213}
      results/results-gw0.jsonl: {sha256: …, size: …}

The build writes every other file first and the YAML last, with this mapping inside the content digest;
`report verify` scans the folder again and compares. Paths are relative, with `/`, sorted.

What counts as tampering:
  - a listed file that is missing or whose content changed;
  - a file added under a folder only the harness writes: `results/` (the raw evidence the report was
    built from), `repro/` and `allure-results/` (rewritten whole by every build).
An added file anywhere else (notes.txt, a CI log beside the report) is reported, not tampering: it does
not change what the listed files say, and keeping notes beside a report is legitimate. Operating-system
litter (.DS_Store, Thumbs.db, desktop.ini, AppleDouble `._*`) is ignored both when listing and checking.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.report.digest import REPORT_FILE

FILES_KEY = "files"
OWNED_DIRS: tuple[str, ...] = ("allure-results", "repro", "results")
_LITTER = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
_HEX = frozenset("0123456789abcdef")

Entry = dict[str, Any]  # {"sha256": hex digest, "size": bytes}


class FolderUnreadable(Exception):
    """A file of the report folder cannot be read. `str()` is the one-line reason."""


class ManifestMalformed(Exception):
    """The `files:` value is not what the harness writes. `str()` is the one-line reason."""


def entry(content: bytes) -> Entry:
    return {"sha256": hashlib.sha256(content).hexdigest(), "size": len(content)}


def _file_entry(path: Path) -> Entry:
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            sha.update(chunk)
            size += len(chunk)
    return {"sha256": sha.hexdigest(), "size": size}


def _litter(name: str) -> bool:
    return name in _LITTER or name.startswith("._")


def scan(folder: Path, skip: str = REPORT_FILE) -> dict[str, Entry]:
    """Every regular file under `folder` (symlinks followed for files, not for folders) but `skip`."""
    found: dict[str, Entry] = {}
    for root, _dirs, names in os.walk(folder):
        for name in names:
            path = Path(root, name)
            relative = path.relative_to(folder).as_posix()
            if relative == skip or _litter(name) or not path.is_file():
                continue
            try:
                found[relative] = _file_entry(path)
            except OSError as exc:
                raise FolderUnreadable(f"cannot read {relative} in {folder} ({exc.strerror or exc})") from None
    return dict(sorted(found.items()))


def planned(folder: Path, written: Mapping[str, bytes], wiped: Iterable[str]) -> dict[str, Entry]:
    """The manifest `folder` will have once `written` is written and the `wiped` folders were removed.

    Computed before anything is written, so the final YAML can be checked for secrets with every other
    file. A write goes through `<name>.tmp`, so a stale temporary file of that name disappears too.
    """
    gone = tuple(f"{d.strip('/')}/" for d in wiped)
    consumed = {f"{name}.tmp" for name in (*written, REPORT_FILE)}
    existing = scan(folder) if folder.is_dir() else {}
    kept = {p: e for p, e in existing.items() if not p.startswith(gone) and p not in consumed}
    return dict(sorted({**kept, **{p: entry(c) for p, c in written.items()}}.items()))


def recorded(document: Mapping[str, Any]) -> dict[str, Entry]:
    """The manifest a verified report carries; ManifestMalformed when absent or not what we write."""
    files = document.get(FILES_KEY)
    if not isinstance(files, dict):
        raise ManifestMalformed("no file manifest (`files:`): written by an older harness, or removed")
    for path, value in files.items():
        if not (isinstance(path, str) and isinstance(value, dict) and isinstance(value.get("size"), int)
                and isinstance(value.get("sha256"), str) and len(value["sha256"]) == 64
                and set(value["sha256"]) <= _HEX):
            raise ManifestMalformed(f"the file manifest entry {path!r} is not what the harness writes")
    return {path: {"sha256": value["sha256"], "size": value["size"]} for path, value in files.items()}


def _owner(path: str) -> str | None:
    top = path.split("/", 1)[0]
    return top if "/" in path and top in OWNED_DIRS else None


@dataclass(frozen=True)
class Comparison:
    problems: tuple[str, ...]  # tampering: missing, changed, or added where only the harness writes
    added: tuple[str, ...]  # added elsewhere: not covered by the digest, and not tampering


def compare(expected: Mapping[str, Entry], actual: Mapping[str, Entry]) -> Comparison:
    problems: list[str] = []
    added: list[str] = []
    for path in sorted(expected.keys() | actual.keys()):
        want, got = expected.get(path), actual.get(path)
        if got is None:
            problems.append(f"{path} is missing")
        elif want is None:
            owner = _owner(path)
            if owner:
                problems.append(f"{path} was added to {owner}/, which only the harness writes")
            else:
                added.append(path)
        elif want != got:
            problems.append(f"{path} was changed after the report was written")
    return Comparison(tuple(problems), tuple(added))
