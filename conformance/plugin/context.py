"""The run's shared state: one `RunContext` per pytest process, kept in `config.stash` (no globals)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

from conformance.catalog import Catalog, load_catalog
from conformance.charts import naming
from conformance.paths import REPORTS
from conformance.run_facts import Selection, command_line, new_run_id, rerun_argv
from conformance.target.config import TargetConfig


@dataclass
class RunContext:
    catalog: Catalog
    target: TargetConfig
    run_id: str
    claimed: frozenset[str]
    results_dir: Path
    worker: str  # xdist worker id, or "main"
    target_config_path: str | None
    charts_manifest: str | None
    rules: frozenset[str] = field(default_factory=frozenset)  # --rule selection (empty: all)
    cases: frozenset[str] = field(default_factory=frozenset)  # --case selection (empty: all)
    settings: tuple[str, ...] = ()  # --set KEY=VALUE flags, as given (never secrets)
    needed_cases: set[str] = field(default_factory=set)  # chart cases of the selected items
    interrupted: bool = False

    @property
    def is_controller(self) -> bool:
        return self.worker == "main" or self.worker == "controller"

    @property
    def results_file(self) -> Path:
        return self.results_dir / f"results-{self.worker}.jsonl"

    @property
    def meta_file(self) -> Path:
        return self.results_dir / "run-meta.json"

    def rerun_command(self, rule_id: str, case: str | None) -> str:
        return command_line(rerun_argv(rule_id, case, self.claimed, self.target_config_path, self.settings))

    @property
    def selection(self) -> Selection:
        return Selection(tuple(sorted(self.rules)), tuple(sorted(self.cases)))


CONTEXT_KEY = pytest.StashKey[RunContext]()


def context(config: pytest.Config) -> RunContext:
    try:
        return config.stash[CONTEXT_KEY]
    except KeyError:
        raise RuntimeError(
            "the nvcf-conformance plugin is not configured (load it with -p conformance.plugin)"
        ) from None


def choose_run_id(option: str | None, inherited: str | None) -> str:
    return naming.run_id(option or inherited or os.environ.get(naming.RUN_ID_ENV) or new_run_id())


def default_results_dir(run_id: str) -> Path:
    return REPORTS / run_id


@cache
def shared_catalog() -> Catalog:
    """The shipped catalog, loaded once per process (suites call this at import time)."""
    return load_catalog()
