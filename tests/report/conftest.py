"""Fixtures for the report tests: results folders written the way the pytest plugin writes them."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_fixtures import MakeContext, meta, write_results

from conformance.catalog.load import Catalog, Rule
from conformance.report.context import ReportContext, build_context
from conformance.report.load import load_run
from conformance.report.model import RunMeta, TestResult
from conformance.report.verdict import Selection


def rule(rule_id: str, level: str = "MUST", profiles: tuple[str, ...] = ("core",)) -> Rule:
    return Rule(id=rule_id, level=level, profiles=profiles, doc="helm-based-functions#restrictions",  # type: ignore[arg-type]
                statement=f"{rule_id} holds.", outcomes=("deployed-conformant",), charts=("minimal-http",))


@pytest.fixture
def small_catalog(tmp_path: Path) -> Catalog:
    """Three rules, one per level, so every verdict path is reachable with a handful of items."""
    return Catalog(path=tmp_path / "rules.yaml", rules=(
        rule("R-MUST"), rule("R-SHOULD", "SHOULD"), rule("R-EXT", "EXT", ("ext",)),
    ))


@pytest.fixture
def make_context(tmp_path: Path, small_catalog: Catalog) -> MakeContext:
    """Write results (one list per worker), load them back and build a report context."""
    counter = iter(range(10_000))

    def make(*workers: list[TestResult], run_meta: RunMeta | None = None, catalog: Catalog | None = None,
             secrets: tuple[str, ...] = (), selection: Selection | None = None,
             target_config: str | None = None, interrupted: bool = False, write_meta: bool = True) -> ReportContext:
        folder = tmp_path / f"results{next(counter)}"
        write_results(folder, {f"gw{i}": w for i, w in enumerate(workers)},
                      (run_meta or meta(("ext",))) if write_meta else None)
        return build_context(load_run(folder), catalog or small_catalog, secrets=secrets, selection=selection,
                             target_config=target_config, interrupted=interrupted)

    return make
