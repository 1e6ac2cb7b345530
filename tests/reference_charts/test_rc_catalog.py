"""Every rule id the chart pipeline emits, raises or lets a mutant break exists in the harness's catalog."""

from __future__ import annotations

from conformance.catalog.load import load_catalog
from reference.charts import rules


def test_every_rule_id_is_in_the_catalog() -> None:
    catalog = load_catalog()
    used = rules.EMITTED | rules.ERROR_RULES | rules.VIOLABLE
    missing = sorted(r for r in used if r not in catalog)
    assert missing == []


def test_the_rule_constants_are_all_accounted_for() -> None:
    constants = {v for k, v in vars(rules).items() if k.isupper() and isinstance(v, str)}
    assert constants <= rules.EMITTED | rules.ERROR_RULES | rules.VIOLABLE | {rules.CHART_MISSING_REFUSED}
