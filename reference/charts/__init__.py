"""The reference server's chart pipeline: fetch, unpack, render, validate and mutate helm charts.

No Kubernetes and no HTTP API here: `prepare()` turns a function's `helmChart` (plus its service
name, inference port and a deployment's `configuration`) into the objects to apply, the hooks and
CRDs left out, and the documented restrictions the chart breaks.
"""

from reference.charts.credentials import RegistryAuth
from reference.charts.errors import (
    ArchiveError,
    ChartError,
    ChartMismatchError,
    ChartNotFoundError,
    ChartUrlError,
    FetchError,
    InternalChartError,
    ManifestError,
    RegistryAuthError,
    RegistryUnreachableError,
    RenderError,
)
from reference.charts.extract import ArchiveLimits
from reference.charts.fetch import FetchOptions
from reference.charts.objects import Manifest
from reference.charts.pipeline import DroppedHook, Limits, Prepared, prepare
from reference.charts.render import RenderLimits
from reference.charts.url import ChartRef, parse_chart_url
from reference.charts.validate import Policy, Violation

__all__ = [
    "ArchiveError",
    "ArchiveLimits",
    "ChartError",
    "ChartMismatchError",
    "ChartNotFoundError",
    "ChartRef",
    "ChartUrlError",
    "DroppedHook",
    "FetchError",
    "FetchOptions",
    "InternalChartError",
    "Limits",
    "Manifest",
    "ManifestError",
    "Policy",
    "Prepared",
    "RegistryAuth",
    "RegistryAuthError",
    "RegistryUnreachableError",
    "RenderError",
    "RenderLimits",
    "Violation",
    "parse_chart_url",
    "prepare",
]
