"""build → lint → package, for a set of cases, through the content-addressed store."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from conformance import paths
from conformance.charts import cache, naming
from conformance.charts.build import materialise
from conformance.charts.cases import BASE_DIR, Case
from conformance.charts.helm import Helm
from conformance.charts.package import lint_many, package_many
from conformance.errors import ConfigError, ConformanceError


def default_out() -> Path:
    return paths.run_dir() / "charts"


def helm_for(out: Path) -> Helm:
    """helm with its config, cache and registry logins kept under the output folder."""
    return Helm(out / "helm")


@dataclass(frozen=True)
class BuiltChart:
    case: Case
    entry: cache.Entry
    cached: bool

    @property
    def chart_dir(self) -> Path:
        return self.entry.chart_dir

    @property
    def package(self) -> Path:
        return self.entry.package

    @property
    def sha256(self) -> str:
        return str(self.entry.data["sha256"])

    @property
    def lint_ok(self) -> bool:
        return bool(self.entry.data["lint"]["ok"])


@dataclass(frozen=True)
class BuildReport:
    run_id: str
    helm_version: str
    charts: tuple[BuiltChart, ...]
    seconds: float

    @property
    def built(self) -> int:
        return sum(1 for c in self.charts if not c.cached)

    @property
    def cached(self) -> int:
        return sum(1 for c in self.charts if c.cached)


def build(
    cases: Sequence[Case],
    run_id: str,
    out: Path | None = None,
    *,
    image: str | None = None,
    helm: Helm | None = None,
    base_dir: Path = BASE_DIR,
) -> BuildReport:
    """Build, lint and package every case that the store does not already hold."""
    started = time.monotonic()
    run_id = naming.run_id(run_id)
    if len({case.id for case in cases}) != len(cases):
        raise ConfigError("the same case was asked for twice; packages would overwrite each other")
    out = (out or default_out()).resolve()
    store = cache.Store(out)
    helm = helm or helm_for(out)
    version = helm.version
    base_print = cache.base_fingerprint(base_dir)

    hits: dict[str, cache.Entry] = {}
    misses: list[tuple[Case, str, Path, Path]] = []  # case, key, staging folder, chart folder
    stagings: list[Path] = []
    try:
        for case in cases:
            key = cache.build_key(case, run_id, version, image, base_print)
            entry = store.lookup(key)
            if entry is not None:
                hits[case.id] = entry
                continue
            staging = store.staging(key)
            stagings.append(staging)
            chart_dir = materialise(case, run_id, staging / "chart", image=image, base_dir=base_dir)
            misses.append((case, key, staging, chart_dir))
        fresh = _lint_and_package(helm, misses, store, run_id, version)
    except BaseException:
        # Committed entries were renamed away already; what is left is half-built and must go.
        for staging in stagings:
            store.discard(staging)
        raise

    charts = tuple(
        BuiltChart(case, hits[case.id], True) if case.id in hits else BuiltChart(case, fresh[case.id], False)
        for case in cases
    )
    return BuildReport(run_id, version, charts, time.monotonic() - started)


def _lint_and_package(
    helm: Helm,
    misses: list[tuple[Case, str, Path, Path]],
    store: cache.Store,
    run_id: str,
    version: str,
) -> dict[str, cache.Entry]:
    if not misses:
        return {}
    lint = lint_many(helm, [chart_dir for *_, chart_dir in misses])
    problems = []
    for case, _, _, chart_dir in misses:
        result = lint[chart_dir]
        if result.ok and case.lint == "expect-failure":
            problems.append(f"{case.id}: helm lint passed, but the overlay says lint: expect-failure")
        elif not result.ok and case.lint == "pass":
            problems.append(f"{case.id}: helm lint failed: {result.first_error}")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ConformanceError(f"{problems[0]}{more}")

    pkg_dir = Path(tempfile.mkdtemp(prefix=".pkg-", dir=store.store))
    try:
        packages = package_many(helm, [chart_dir for *_, chart_dir in misses], pkg_dir)
        entries = {}
        for case, key, staging, chart_dir in misses:
            tgz = packages[chart_dir]
            if tgz.name != case.package_name:
                raise ConformanceError(f"{case.id}: helm package wrote {tgz.name}, expected {case.package_name}")
            final = staging / tgz.name
            shutil.move(str(tgz), final)
            entries[case.id] = store.commit(
                key,
                staging,
                {
                    "case": case.id,
                    "chart": case.chart_name,
                    "version": case.chart_version,
                    "runId": run_id,
                    "helmVersion": version,
                    "package": final.name,
                    "sha256": cache.file_sha256(final),
                    "lint": {"ok": lint[chart_dir].ok, "messages": list(lint[chart_dir].messages)},
                    "builtAt": datetime.now(UTC).isoformat(timespec="seconds"),
                },
            )
        return entries
    finally:
        shutil.rmtree(pkg_dir, ignore_errors=True)
