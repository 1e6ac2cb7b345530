"""Why a chart could not be prepared: one exception tree, each carrying a one-line `reason`.

Everything that goes wrong before the rendered objects can be judged (a malformed URL, a registry
that refuses us, an unsafe archive, helm failing to render) is one of these. Rule breaches found in
a chart that did render are *not* exceptions: they come back as violations, so a caller sees all of
them at once. `rule` names the catalog rule an error is evidence for, when there is one, so the API
layer can say which documented restriction refused the chart.
"""

from __future__ import annotations


class ChartError(Exception):
    """The chart could not be fetched, unpacked or rendered. `reason` is one line, safe to show users."""

    def __init__(self, reason: str, *, rule: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.rule = rule

    def __str__(self) -> str:
        return self.reason


class ChartUrlError(ChartError):
    """`helmChart` is not a chart reference we accept; `part` says which piece of it is wrong."""

    def __init__(self, reason: str, *, part: str, rule: str | None = None) -> None:
        super().__init__(reason, rule=rule)
        self.part = part


class FetchError(ChartError):
    """The chart could not be downloaded."""


class ChartNotFoundError(FetchError):
    """The registry answered, but holds no chart at that name and version."""


class RegistryAuthError(FetchError):
    """The registry refused our credentials (or demanded some and we had none)."""


class RegistryUnreachableError(FetchError):
    """The registry did not answer: refused connection, unknown host, TLS failure or timeout."""


class ArchiveError(ChartError):
    """The downloaded archive is not one we are willing to unpack; `problem` is a stable keyword."""

    def __init__(self, reason: str, *, problem: str) -> None:
        super().__init__(reason)
        self.problem = problem


class ChartMismatchError(ChartError):
    """The archive holds a different chart (name or version) than the URL promised."""


class RenderError(ChartError):
    """helm could not render the chart with the deployment's values."""


class ManifestError(ChartError):
    """helm rendered something we refuse to parse (a YAML bomb, an oversized output, a nameless object)."""


class InternalChartError(ChartError):
    """A failure of this implementation rather than of the chart; the cause is chained for the logs."""
