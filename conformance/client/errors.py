"""What can go wrong talking to a target, split by whose fault it is.

`TargetUnreachable`, `TargetServerError` and `WaitTimeout` are harness/environment conditions: the
plugin reports them as ERROR, never as a conformance verdict. `Nonconformant` is an `AssertionError`,
so raising it from a test body is a FAIL of the implementation.
"""

from __future__ import annotations

from conformance.errors import ConformanceError


class TargetUnreachable(ConformanceError):
    """No answer came (connection refused, DNS, TLS, timeout): nothing was learnt about conformance."""


class TargetServerError(ConformanceError):
    """The control plane answered 5xx: the backend itself failed, so nothing was learnt about the rule.

    No rule's conformant outcome is a server error on the management API, and a broken backend is
    an environment problem for a certification run (ERROR), not a verdict on one rule (FAIL).
    """


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
