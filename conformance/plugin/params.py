"""Parametrise a suite test over its rule's catalog variants: each (param, case) pair carries its case marker."""

from __future__ import annotations

from typing import Any

import pytest

from .context import shared_catalog


def variants(rule_id: str) -> list[Any]:
    """`pytest.param(param, case, id=..., marks=case(...))` for every variant of the rule."""
    rule = shared_catalog()[rule_id]
    return [
        pytest.param(v.param, v.case, id=str(v.param) if v.param is not None else v.case,
                     marks=pytest.mark.case(v.case))
        for v in rule.variants()
    ]


def params_of(rule_id: str) -> list[Any]:
    """Just the rule's params (for rules whose params all share one chart): ids are the params."""
    rule = shared_catalog()[rule_id]
    (case,) = set(rule.charts)
    return [pytest.param(p, id=str(p), marks=pytest.mark.case(case)) for p in rule.params]
