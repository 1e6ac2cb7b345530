"""`expect`: the outcome helpers bound to a test's rule, functions and result record.

A test states what it did; the helper judges the observation against the rule's documented outcomes
(conformant or not) and records it, so every test judges outcomes the same way.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.catalog import Rule

from .charts import ChartRef
from .functions import Functions
from .outcomes import (
    Observation,
    accept,
    expect_deployed,
    expect_deployed_or_refused,
    expect_problem_details,
    expect_refused,
    expect_status,
)
from .results import ItemRecord


class Expect:
    """The outcome helpers bound to this test's rule, factory and record."""

    def __init__(self, functions: Functions, rule: Rule, record: ItemRecord) -> None:
        self.functions = functions
        self.rule = rule
        self.record = record

    def refused(self, chart: ChartRef, *, offenders: list[str], **kwargs: Any) -> Observation:
        return expect_refused(self.functions, chart, self.rule, offenders=offenders, record=self.record, **kwargs)

    def deployed(self, chart: ChartRef, **kwargs: Any) -> Observation:
        return expect_deployed(self.functions, chart, self.rule, record=self.record, **kwargs)

    def deployed_or_refused(self, chart: ChartRef, *, offenders: list[str], **kwargs: Any) -> Observation:
        return expect_deployed_or_refused(self.functions, chart, self.rule, offenders=offenders,
                                          record=self.record, **kwargs)

    def status(self, reply: Any, *codes: int) -> Observation:
        return expect_status(reply, self.rule, self.record, *codes)

    def problem_details(self, reply: Any) -> Observation:
        return expect_problem_details(reply, self.rule, self.record)

    def observed(self, outcome: str, detail: str = "") -> None:
        """Record an outcome a test established by itself (it must be in the rule's set)."""
        accept(self.rule, self.record, outcome, detail)


@pytest.fixture
def expect(functions: Functions, rule: Rule, record: ItemRecord) -> Expect:
    """Outcome helpers: `expect.refused(chart, offenders=[...])`, `expect.deployed(chart)`, `expect.status(r, 400)`."""
    return Expect(functions, rule, record)
