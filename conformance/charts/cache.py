"""The content-addressed chart store under the output folder (default `.run/charts/`).

    store/<key>/chart/<name>/        the materialised chart
    store/<key>/<name>-<version>.tgz the package
    store/<key>/entry.json           written last: an entry without it does not exist
    pushed/<push key>.json           what a push to one registry/repository returned

The build key covers everything that shapes the package (base chart files, the overlay, run id, image,
helm version and the build code itself), so an unchanged chart is neither rebuilt nor re-pushed.
Entries are prepared in a temporary folder and renamed into place, which keeps concurrent builds of
the same key (pytest-xdist workers, two shells) from seeing half-written charts.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.charts.cases import BASE_DIR, Case

# Bump when the store layout or the meaning of an entry changes.
STORE_FORMAT = "nvcf-conformance-chart-store/1"
_CODE_FILES = ("build.py", "package.py", "cache.py")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _feed(digest: Any, label: str, data: bytes) -> None:
    # Length-prefixed fields: no two different inputs can produce the same byte stream.
    digest.update(f"{label}:{len(data)}:".encode())
    digest.update(data)


def base_fingerprint(base_dir: Path = BASE_DIR) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in base_dir.rglob("*") if p.is_file()):
        _feed(digest, "path", path.relative_to(base_dir).as_posix().encode())
        _feed(digest, "data", path.read_bytes())
    here = Path(__file__).parent
    for name in _CODE_FILES:
        _feed(digest, "code", (here / name).read_bytes())
    return digest.hexdigest()


def build_key(case: Case, run_id: str, helm_version: str, image: str | None, base_print: str) -> str:
    digest = hashlib.sha256()
    for label, value in (
        ("format", STORE_FORMAT.encode()),
        ("base", base_print.encode()),
        ("overlay", case.source),
        ("case", case.id.encode()),
        ("run", run_id.encode()),
        ("helm", helm_version.encode()),
        ("image", (image or "").encode()),
    ):
        _feed(digest, label, value)
    return digest.hexdigest()[:32]


def push_key(address: str, repository: str, name: str, version: str, package_sha256: str) -> str:
    digest = hashlib.sha256()
    for label, value in (
        ("format", STORE_FORMAT),
        ("registry", address),
        ("repository", repository),
        ("name", name),
        ("version", version),
        ("package", package_sha256),
    ):
        _feed(digest, label, value.encode())
    return digest.hexdigest()[:32]


@dataclass(frozen=True)
class Entry:
    key: str
    folder: Path
    data: dict[str, Any]

    @property
    def chart_dir(self) -> Path:
        return self.folder / "chart" / self.data["chart"]

    @property
    def package(self) -> Path:
        return self.folder / self.data["package"]


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


class Store:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.store = out / "store"
        self.pushed = out / "pushed"

    def lookup(self, key: str) -> Entry | None:
        folder = self.store / key
        meta = folder / "entry.json"
        if not meta.is_file():
            return None
        try:
            data = json.loads(meta.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        entry = Entry(key, folder, data)
        # A package deleted by hand makes the entry a miss rather than a broken hit.
        if not entry.package.is_file() or file_sha256(entry.package) != data.get("sha256"):
            return None
        return entry

    def staging(self, key: str) -> Path:
        self.store.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=self.store))

    def commit(self, key: str, staging: Path, data: dict[str, Any]) -> Entry:
        _write_json(staging / "entry.json", data)
        target = self.store / key
        if target.exists():
            found = self.lookup(key)
            if found is not None:  # another builder finished the same chart first: keep theirs
                shutil.rmtree(staging, ignore_errors=True)
                return found
            # What is there is incomplete or broken (say, its package was deleted): replace it.
            shutil.rmtree(target, ignore_errors=True)
        try:
            staging.rename(target)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            found = self.lookup(key)
            if found is None:
                raise
            return found
        return Entry(key, target, data)

    def discard(self, staging: Path) -> None:
        shutil.rmtree(staging, ignore_errors=True)

    def push_record(self, key: str) -> dict[str, Any] | None:
        path = self.pushed / f"{key}.json"
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def save_push(self, key: str, data: dict[str, Any]) -> None:
        _write_json(self.pushed / f"{key}.json", data)
