"""Every rule id the reference emits, raises or lets a mutant break exists in the harness's catalog."""

from __future__ import annotations

from conformance.catalog.load import load_catalog
from reference import rules


def test_every_rule_id_is_in_the_catalog() -> None:
    catalog = load_catalog()
    missing = sorted(r for r in rules.VIOLABLE if r not in catalog)
    assert missing == []


def test_the_derived_sets_hold_only_named_ids() -> None:
    assert rules.EMITTED | rules.ERROR_RULES <= rules.VIOLABLE
    assert {"GRPC-INVOCATION", "API-AUTH-SCOPE", "SEC-LIMITS-CURRENT", "KIND-FORBIDDEN"} <= rules.VIOLABLE
