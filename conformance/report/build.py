"""Build every report of a run from its results folder, check it for secrets, then write it.

All files are rendered in memory first and checked as a set: a report that would leak a secret is
refused whole, so no half-written folder with some files is left for someone to publish. The YAML is
written last: its `files:` manifest lists every other file of the folder as it will be once written
(see manifest.py), and an interrupted rebuild leaves an old YAML that no longer verifies.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.catalog.load import Catalog, load_catalog
from conformance.errors import ConformanceError
from conformance.report import allure, attempts, diff, html, junit, manifest, repro, yaml_report
from conformance.report.context import ReportContext, build_context
from conformance.report.digest import REPORT_FILE
from conformance.report.load import load_run
from conformance.report.model import RunMeta
from conformance.report.redact import SecretGuard
from conformance.run_facts import Selection

SUMMARY_FILE = "summary.html"
JUNIT_FILE = "junit.xml"
ALLURE_DIR = "allure-results"
REPRO_DIR = "repro"
GENERATED_DIRS = (ALLURE_DIR, REPRO_DIR)  # ours entirely: wiped before every build


@dataclass(frozen=True)
class BuiltReport:
    out_dir: Path
    context: ReportContext
    files: tuple[str, ...]

    @property
    def report_file(self) -> Path:
        return self.out_dir / REPORT_FILE

    @property
    def summary_file(self) -> Path:
        return self.out_dir / SUMMARY_FILE

    @property
    def exit_code(self) -> int:
        return self.context.exit_code


def render_all(ctx: ReportContext, out_dir: Path) -> dict[str, bytes]:
    """Every file of the report, the YAML last (its manifest covers the others and what `out_dir` holds)."""
    files: dict[str, bytes] = {
        JUNIT_FILE: junit.render(ctx),
        SUMMARY_FILE: html.render(ctx),
    }
    files.update({f"{ALLURE_DIR}/{name}": content for name, content in allure.render(ctx).items()})
    files.update(repro.render(ctx))
    try:
        listed = manifest.planned(out_dir, files, GENERATED_DIRS)
    except manifest.FolderUnreadable as exc:
        raise ConformanceError(str(exc)) from None
    files[REPORT_FILE] = yaml_report.render(ctx, listed)
    return files


def write_files(out_dir: Path, files: dict[str, bytes], secrets: Sequence[str]) -> None:
    """Write `files` (in their order: the YAML must come last) after checking them all for secrets."""
    SecretGuard(secrets).check(files)
    out = out_dir.resolve()
    for generated in GENERATED_DIRS:
        # A rebuild must not leave bundles or allure files of items that no longer fail.
        shutil.rmtree(out / generated, ignore_errors=True)
    for name, content in files.items():
        path = (out / name).resolve()
        if out not in path.parents:
            # Names come from slugs we make, but a report writer must not be steerable out of its folder.
            raise ConformanceError(f"refusing to write {name}: outside {out}")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(content)
        if name.endswith(".sh"):
            os.chmod(tmp, 0o755)
        tmp.replace(path)


def build_report(
    results_dir: str | Path,
    out_dir: str | Path,
    *,
    secrets: Sequence[str] = (),
    selection: Selection | None = None,
    target_config: str | Path | None = None,
    interrupted: bool = False,
    extra_incomplete: Sequence[str] = (),
    catalog: Catalog | None = None,
    fallback_meta: RunMeta | None = None,
    baseline: Mapping[str, Any] | None = None,
) -> BuiltReport:
    """Load `results_dir` (with its rerun attempts), render all reports into `out_dir`; raises
    SecretLeakError before writing anything. `baseline`: a verified report document to compare with."""
    run, reruns = attempts.merge(load_run(results_dir, fallback_meta), Path(results_dir))
    ctx = build_context(
        run, catalog or load_catalog(), secrets=secrets, selection=selection,
        target_config=target_config, interrupted=interrupted, extra_incomplete=list(extra_incomplete),
    )
    ctx.reruns = reruns
    if baseline is not None:
        # Compared with the document as it will be sealed (minus the files and the comparison itself),
        # so the YAML, the HTML and the console all show one comparison.
        ctx.baseline = diff.compare(baseline, yaml_report.document(ctx, {}), labels=("baseline", "this run"))
    out = Path(out_dir)
    files = render_all(ctx, out)
    write_files(out, files, secrets)
    return BuiltReport(out_dir=out, context=ctx, files=tuple(sorted(files)))
