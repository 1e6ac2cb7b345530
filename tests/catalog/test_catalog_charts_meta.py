"""Catalog <-> sample charts: every case the catalog names exists as a file, and every file is used.

Skips only while sample-charts/cases/ has not been created yet; once it exists the two must agree.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.catalog import load_catalog
from conformance.catalog.cases import CONTRACT_CASES
from conformance.paths import SAMPLE_CHARTS

CASES_DIR = SAMPLE_CHARTS / "cases"

needs_cases = pytest.mark.skipif(not CASES_DIR.is_dir(), reason=f"{CASES_DIR} does not exist yet")


def _case_files() -> dict[str, Path]:
    return {p.stem: p for p in CASES_DIR.iterdir() if p.suffix == ".yaml"}


def test_catalog_names_only_contract_cases() -> None:
    assert sorted(load_catalog().cases() - CONTRACT_CASES) == []


@needs_cases
def test_every_case_in_the_catalog_has_a_file() -> None:
    missing = sorted(load_catalog().cases() - set(_case_files()))
    assert missing == [], f"no sample-charts/cases/<id>.yaml for: {missing}"


@needs_cases
def test_every_case_file_is_used_by_a_rule() -> None:
    unused = sorted(set(_case_files()) - load_catalog().cases())
    assert unused == [], f"case files no rule uses: {unused}"
