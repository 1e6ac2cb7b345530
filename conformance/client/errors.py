"""What can go wrong talking to a target, split by whose fault it is.

`TargetUnreachable` and `WaitTimeout` are harness/environment conditions: the plugin reports them as
ERROR, never as a conformance verdict. `Nonconformant` is an `AssertionError`, so raising it from a
test body is a FAIL of the implementation.
"""

from __future__ import annotations

from conformance.errors import ConformanceError


class TargetUnreachable(ConformanceError):
    """No answer came (connection refused, DNS, TLS, timeout): nothing was learnt about conformance."""


class WaitTimeout(ConformanceError):
    """A state the harness waited for did not come within the named timeout."""

    def __init__(self, message: str, last: str | None = None) -> None:
        super().__init__(message)
        self.last = last


class Nonconformant(AssertionError):
    """The implementation broke the rule under test. `outcome` is the observation's vocabulary word."""

    def __init__(self, message: str, outcome: str | None = None) -> None:
        super().__init__(message)
        self.outcome = outcome
