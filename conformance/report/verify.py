"""`report verify`: the YAML's content digest, then every file of its folder against the `files:` manifest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.report import digest, manifest


@dataclass(frozen=True)
class Verified:
    document: dict[str, Any]
    files: int  # how many listed files were checked (0 with files=False)
    added: tuple[str, ...]  # files beside the report that it does not cover: worth a warning, not tampering


def _summary(folder: Path, problems: tuple[str, ...]) -> str:
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in all"
    return f"{folder}: {problems[0]} ({count})"


def verify_report(path: str | Path, *, files: bool = True) -> Verified:
    """Raises digest.Unreadable or digest.DigestProblem (one-line reasons); `files=False` checks the YAML only."""
    document = digest.verify(path)
    if not files:
        return Verified(document, 0, ())
    report = digest.report_path(path)
    try:
        expected = manifest.recorded(document)
    except manifest.ManifestMalformed as exc:
        raise digest.DigestProblem(f"{report}: {exc}") from None
    try:
        actual = manifest.scan(report.parent, skip=report.name)
    except manifest.FolderUnreadable as exc:
        raise digest.Unreadable(str(exc)) from None
    comparison = manifest.compare(expected, actual)
    if comparison.problems:
        raise digest.DigestProblem(_summary(report.parent, comparison.problems))
    return Verified(document, len(expected), comparison.added)
