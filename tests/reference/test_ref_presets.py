"""Presets: named mutant sets that reproduce a known implementation, each naming catalog rules."""

from __future__ import annotations

import pytest

from conformance.catalog import load_catalog
from conformance.errors import ConfigError
from reference.presets import PRESETS, preset_violations


def test_every_preset_breaks_only_catalog_rules_and_says_why() -> None:
    ids = {rule.id for rule in load_catalog().rules}
    for name, rules in PRESETS.items():
        assert set(rules) <= ids, f"{name}: {sorted(set(rules) - ids)} are not catalog rules"
        assert all(reason.strip() for reason in rules.values())


def test_oss_shipped_preset_covers_the_documented_divergences() -> None:
    broken = preset_violations(["nvcf-oss-shipped"])
    assert {"CRD-CHART-DEPLOYS", "OBJECTS-OVER-300-REFUSED", "GRPC-URL-MARKS-FUNCTION", "SVC-TYPE-FORBIDDEN",
            "VOL-FORBIDDEN"} <= broken


def test_unknown_preset_is_a_one_line_error() -> None:
    with pytest.raises(ConfigError, match="unknown preset"):
        preset_violations(["nvcf-oss-latest"])
