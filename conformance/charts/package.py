"""`helm lint` and `helm package`, each run once for a whole batch of chart folders.

One helm process per batch instead of one per chart matters on a 2-core CI machine: a cold build of
every case costs two helm start-ups instead of two hundred.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from conformance.charts.helm import Helm
from conformance.errors import ConformanceError

_SECTION = re.compile(r"^==> Linting (?P<path>.+?)\s*$")
_SUMMARY = re.compile(r"(?P<linted>\d+) chart\(s\) linted, (?P<failed>\d+) chart\(s\) failed")
_PACKAGED = re.compile(r"Successfully packaged chart and saved it to: (?P<path>.+?)\s*$")


@dataclass(frozen=True)
class LintResult:
    ok: bool
    messages: tuple[str, ...]  # the [ERROR]/[WARNING] lines helm printed for this chart

    @property
    def first_error(self) -> str:
        errors = [m for m in self.messages if m.startswith(("[ERROR]", "Error"))]
        return (errors or list(self.messages) or ["(no message)"])[0]


def _parse_lint(output: str) -> dict[str, LintResult]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in output.splitlines():
        match = _SECTION.match(line)
        if match:
            current = sections.setdefault(match["path"], [])
            continue
        if current is not None and line.strip() and not _SUMMARY.search(line):
            current.append(line.strip())
    results = {}
    for path, lines in sections.items():
        messages = tuple(m for m in lines if not m.startswith("[INFO]"))
        failed = any(m.startswith(("[ERROR]", "Error")) for m in messages)
        results[path] = LintResult(not failed, messages)
    return results


def lint_many(helm: Helm, chart_dirs: Sequence[Path]) -> dict[Path, LintResult]:
    """Lint every folder in one helm call; fall back to one call per chart if the output is ambiguous."""
    if not chart_dirs:
        return {}
    result = helm.run(["lint", *map(str, chart_dirs)])
    parsed = _parse_lint(result.output)
    summary = _SUMMARY.search(result.output)
    by_dir = {d: parsed.get(str(d)) for d in chart_dirs}
    consistent = (
        all(r is not None for r in by_dir.values())
        and summary is not None
        and int(summary["failed"]) == sum(1 for r in by_dir.values() if r is not None and not r.ok)
        and (result.returncode == 0) == all(r is not None and r.ok for r in by_dir.values())
    )
    if consistent:
        return {d: r for d, r in by_dir.items() if r is not None}
    # helm gave up part-way (say, a chart it could not load): lint each chart alone and trust exit codes.
    out = {}
    for chart_dir in chart_dirs:
        single = helm.run(["lint", str(chart_dir)])
        found = _parse_lint(single.output).get(str(chart_dir))
        messages = found.messages if found else tuple(single.output.strip().splitlines())
        out[chart_dir] = LintResult(single.returncode == 0, messages)
    return out


def package_many(helm: Helm, chart_dirs: Sequence[Path], dest: Path) -> dict[Path, Path]:
    """Package every folder into `dest` in one helm call; return chart folder → .tgz."""
    if not chart_dirs:
        return {}
    dest.mkdir(parents=True, exist_ok=True)
    result = helm.run(["package", *map(str, chart_dirs), "--destination", str(dest)])
    written = [Path(m["path"]) for m in map(_PACKAGED.search, result.output.splitlines()) if m]
    if result.returncode == 0 and len(written) == len(chart_dirs):
        return dict(zip(chart_dirs, written, strict=True))
    # helm stops at the first chart it cannot package; find out which one, by itself.
    out = {}
    for chart_dir in chart_dirs:
        single = helm.run(["package", str(chart_dir), "--destination", str(dest)])
        match = next(filter(None, map(_PACKAGED.search, single.output.splitlines())), None)
        if single.returncode != 0 or match is None:
            raise ConformanceError(f"helm package {chart_dir} failed: {single.last_error_line()}")
        out[chart_dir] = Path(match["path"])
    return out
