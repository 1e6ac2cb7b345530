"""Refusals that say more about the run's set-up than about the implementation.

A refusal is a verdict only when the chart caused it. When the registry the harness pushed to has
gone away, or the backend says it cannot reach it, may not pull from it, or refuses it as a private
address, the run's own set-up is at fault: the item is an ERROR (exit 2) with a line saying what to
fix, never a PASS of a rule that expects a refusal nor a FAIL of one that expects a deployment.

Image pulls are not set-up faults: the docs make the pull secret the implementation's job ("No other
configuration is needed"), so a pod that cannot pull its image stays a verdict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from conformance.charts import naming, oci
from conformance.errors import ConformanceError
from conformance.target.config import TargetConfig


class SetupFault(ConformanceError):
    """The run's set-up, not the implementation, made this happen (an ERROR)."""


@dataclass(frozen=True)
class Pattern:
    kind: str
    words: re.Pattern[str]
    fix: str


# Each pattern is a chart-fetch failure as NVIDIA's validator, helm or the reference word it.
PATTERNS: tuple[Pattern, ...] = (
    Pattern("private-network", re.compile(r"private network|blocked address|not allowed \(resolved from", re.I),
            "the backend's chart validator refuses chart URLs on private or loopback addresses (NVIDIA's "
            "helm-reval does): publish the charts on a registry address it accepts (a public IP, or a DNS "
            "name that resolves to one) and set registry.address to it; registry.push_address can stay local"),
    Pattern("registry-credentials",
            re.compile(r"no credential was valid|missing helm registry credential|refused access to", re.I),
            "the backend holds no valid credentials for the chart registry: register them with the backend "
            "(NVIDIA: POST /v2/nvcf/registry-credentials) before the run"),
    Pattern("registry-unreachable",
            re.compile(r"cannot be reached|connection refused|no such host|i/o timeout|network is unreachable|"
                       r"no route to host", re.I),
            "the backend cannot reach the chart registry: set registry.address to the address the backend "
            "sees and check that the registry runs"),
)


def classify(text: str) -> Pattern | None:
    """The set-up fault a refusal's text describes, or None when it describes the chart."""
    return next((p for p in PATTERNS if p.words.search(text or "")), None)


def registry_problem(target: TargetConfig) -> str | None:
    """Why the registry the harness pushed to cannot serve charts right now, or None (or not configured)."""
    creds = target.push_registry
    if creds is None:
        return None
    address = naming.registry_address(creds[0], target["registry.plain_http"])
    return oci.Registry(address, creds[1], creds[2]).problem()


def setup_cause(target: TargetConfig, text: str) -> str | None:
    """Why a refusal or failure with this text is the set-up's doing (one line), or None when it is not.

    The registry is asked first: whatever the backend's words, a registry that is down or refuses our
    credentials explains it. Then the words: a backend that reports a private-network, credentials or
    reachability problem with the chart registry is not judged on the chart.
    """
    down = registry_problem(target)
    if down is not None:
        return (f"set-up: {down}, so this says nothing about the implementation; restart the registry (or fix its "
                "address and credentials) and rerun")
    fault = classify(text)
    if fault is not None:
        shown = " ".join(text.split())[:200]
        return (f"set-up ({fault.kind}): the backend refused the chart for its registry, not for the chart "
                f"({shown!r}); {fault.fix}")
    return None


def check_refusal(target: TargetConfig, text: str) -> None:
    """Raise `SetupFault` when a refusal the test would accept is the set-up's doing."""
    cause = setup_cause(target, text)
    if cause is not None:
        raise SetupFault(cause)
