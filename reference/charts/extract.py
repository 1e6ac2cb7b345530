"""Unpack a chart archive ourselves, refusing anything helm should never be handed.

helm's own loader would follow a chart archive wherever it points; here every member is checked
before a byte of it is written: regular files and directories only (no symlinks, hardlinks, devices
or FIFOs), relative paths that stay inside the target, a bounded member count, and a bound on the
*decompressed* stream that is enforced while reading it, so a small archive that inflates to
gigabytes is stopped at the bound instead of after it.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from reference.charts.errors import ArchiveError

MIB = 1024 * 1024


@dataclass(frozen=True)
class ArchiveLimits:
    max_archive_bytes: int = 20 * MIB  # the .tgz as downloaded
    max_decompressed_bytes: int = 20 * MIB  # the tar stream after gunzip, headers included
    max_members: int = 2000


class _Bounded(io.RawIOBase):
    """A read-only view of `inner` that raises once more than `limit` bytes came through it."""

    def __init__(self, inner: io.BufferedIOBase, limit: int) -> None:
        self._inner = inner
        self._limit = limit
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        self.count += len(data)
        if self.count > self._limit:
            raise ArchiveError(
                f"the chart archive decompresses to more than {self._limit} bytes; refusing to unpack it",
                problem="too-large",
            )
        buffer[: len(data)] = data
        return len(data)


def _member_path(name: str) -> PurePosixPath:
    """The member's path relative to the target, or ArchiveError when it could escape."""
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ArchiveError(f"archive member '{name}' has an absolute path", problem="absolute-path")
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(f"archive member '{name}' climbs out of the chart with '..'", problem="path-traversal")
    if "\\" in name or "\x00" in name:
        raise ArchiveError(f"archive member {name!r} has a backslash or NUL in its path", problem="bad-name")
    if not parts:
        raise ArchiveError(f"archive member {name!r} has an empty path", problem="bad-name")
    return PurePosixPath(*parts)


def _member_kind(member: tarfile.TarInfo) -> str | None:
    """Why a member is refused by type, or None for a regular file or a directory."""
    if member.isreg() or member.isdir():
        return None
    if member.issym():
        return f"is a symbolic link (to '{member.linkname}')"
    if member.islnk():
        return f"is a hard link (to '{member.linkname}')"
    if member.ischr() or member.isblk():
        return "is a device file"
    if member.isfifo():
        return "is a FIFO"
    return "is not a regular file or directory"


def extract_chart(archive: Path, dest: Path, limits: ArchiveLimits | None = None) -> Path:
    """Unpack `archive` into `dest` (created, must not exist) and return the chart's folder.

    A chart archive holds exactly one top-level folder with a Chart.yaml in it, as `helm package`
    writes it.
    """
    limits = limits or ArchiveLimits()
    try:
        size = archive.stat().st_size
    except OSError as exc:
        raise ArchiveError(f"cannot read the chart archive: {exc.strerror or exc}", problem="unreadable") from None
    if size > limits.max_archive_bytes:
        raise ArchiveError(
            f"the chart archive is {size} bytes, more than the {limits.max_archive_bytes} allowed", problem="too-large"
        )
    dest.mkdir(parents=True, exist_ok=False)
    seen: set[PurePosixPath] = set()
    try:
        with archive.open("rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
            stream = io.BufferedReader(_Bounded(unzipped, limits.max_decompressed_bytes), 64 * 1024)
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for count, member in enumerate(tar, start=1):
                    if count > limits.max_members:
                        raise ArchiveError(
                            f"the chart archive has more than {limits.max_members} members", problem="too-many-members"
                        )
                    rel = _member_path(member.name)
                    refused = _member_kind(member)
                    if refused:
                        problem = "link" if member.issym() or member.islnk() else "special-file"
                        raise ArchiveError(f"archive member '{member.name}' {refused}", problem=problem)
                    if rel in seen:
                        raise ArchiveError(f"archive member '{member.name}' appears twice", problem="duplicate")
                    seen.add(rel)
                    _write_member(tar, member, dest, rel)
    except ArchiveError:
        raise
    except (tarfile.TarError, gzip.BadGzipFile, zlib.error, EOFError) as exc:
        raise ArchiveError(
            f"the chart archive is not a valid gzip-compressed tar file ({exc})", problem="corrupt"
        ) from None
    except OSError as exc:
        raise ArchiveError(f"cannot unpack the chart archive: {exc.strerror or exc}", problem="unpack-failed") from None
    return _chart_folder(dest)


def _write_member(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path, rel: PurePosixPath) -> None:
    target = dest.joinpath(*rel.parts)
    if member.isdir():
        target.mkdir(parents=True, exist_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    source = tar.extractfile(member)
    if source is None:  # pragma: no cover - isreg() members always have data
        raise ArchiveError(f"archive member '{member.name}' has no data", problem="corrupt")
    # O_EXCL + O_NOFOLLOW: never overwrite, never write through a link, whatever is already there.
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(64 * 1024):
            out.write(chunk)


def _chart_folder(dest: Path) -> Path:
    entries = list(dest.iterdir())
    folders = [e for e in entries if e.is_dir()]
    if len(entries) != 1 or len(folders) != 1 or not (folders[0] / "Chart.yaml").is_file():
        names = ", ".join(sorted(e.name for e in entries)) or "nothing"
        raise ArchiveError(
            f"the archive does not hold one chart folder with a Chart.yaml (top level: {names})", problem="not-a-chart"
        )
    return folders[0]
