"""One call from a function's `helmChart` to the objects to apply: fetch, unpack, render, validate, mutate.

`prepare()` either returns a Prepared (which may carry violations: the chart rendered, but breaks
documented restrictions) or raises a ChartError whose `reason` is one line fit for a user. No other
exception leaves it: an unexpected failure becomes an InternalChartError with the cause chained.

Two settings make it behave as NVIDIA's validator with its shipped defaults: `chart_references="helm"`
reads `helmChart` as Helm does (helm_reference.py), `object_checks="logged"` moves the checks NVIDIA
skips with `skipValidateObjects` from `violations` to `logged`.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reference import rules
from reference.charts import overrides
from reference.charts.credentials import AuthSource, as_list
from reference.charts.dependencies import drop_missing_dependencies
from reference.charts.errors import ChartError, ChartMismatchError, InternalChartError, ManifestError
from reference.charts.extract import ArchiveLimits, extract_chart
from reference.charts.fetch import FetchOptions, fetch_chart
from reference.charts.helm_reference import parse_as_helm
from reference.charts.mutate import DEFAULT_PULL_SECRET, check_label_value, finalize, pull_secret_manifest
from reference.charts.objects import Manifest, as_dict
from reference.charts.render import (
    Rendered,
    RenderLimits,
    chart_defaults,
    expand_lists,
    render_chart,
    without_subcharts,
)
from reference.charts.safe_yaml import load_document
from reference.charts.url import ChartRef, parse_chart_url
from reference.charts.validate import MAX_OBJECTS, POLICIES, Policy, Violation, validate
from reference.config import ChartReferences, ObjectChecks


@dataclass(frozen=True)
class Limits:
    archive: ArchiveLimits = field(default_factory=ArchiveLimits)
    render: RenderLimits = field(default_factory=RenderLimits)
    max_objects: int = MAX_OBJECTS


@dataclass(frozen=True)
class DroppedHook:
    kind: str
    name: str
    source: str
    events: tuple[str, ...]

    def __str__(self) -> str:
        what = f"{self.kind}/{self.name} ({self.source})" if self.kind else "a hook helm does not know"
        return f"{what}: {', '.join(self.events) or 'no hook type'}"


@dataclass(frozen=True)
class Prepared:
    chart: ChartRef
    # The chart's objects, modified as documented, in helm's install order. Apply `pull_secret` first.
    objects: tuple[Manifest, ...]
    pull_secret: dict[str, Any]
    dropped_hooks: tuple[DroppedHook, ...]
    skipped_crds: tuple[str, ...]  # `CustomResourceDefinition/name (source)`
    violations: tuple[Violation, ...]
    # Rendered documents that are not Kubernetes objects (no apiVersion/kind): never applied.
    ignored: tuple[str, ...] = ()
    # Breaches of checks that are only logged (`object_checks="logged"`): the chart deploys anyway.
    logged: tuple[Violation, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.violations

    def manifests(self) -> list[dict[str, Any]]:
        """Everything to apply, in order, as plain JSON-shaped objects."""
        return [self.pull_secret, *(item.obj for item in self.objects)]

    def reason(self) -> str:
        """All violations on one line, for a deployment's error reason."""
        return "; ".join(str(v) for v in self.violations)


def prepare(
    helm_chart_url: str,
    service_name: str,
    inference_port: int,
    configuration: Mapping[str, Any] | None,
    *,
    registry_auth: AuthSource,
    policy: Policy = "current",
    violate: Collection[str] = frozenset(),
    workdir: Path,
    version_id: str | None = None,
    namespace: str = "mini-service",
    release_name: str = "mini-service",
    pull_secret_name: str = DEFAULT_PULL_SECRET,
    fetch_options: FetchOptions | None = None,
    limits: Limits | None = None,
    kube_version: str | None = None,
    keep_workdir: bool = False,
    chart_references: ChartReferences = "documented",
    object_checks: ObjectChecks = "enforced",
) -> Prepared:
    """Fetch, unpack, render, validate and mutate the chart of one function deployment.

    `registry_auth` serves both the chart pull (the entry whose registry matches the URL) and the
    pull secret (every entry). `violate` names catalog rules to break (the server's mutants).
    """
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    if configuration is not None and not isinstance(configuration, Mapping):
        raise ChartError("configuration must be a JSON object of values overrides")
    if version_id is not None:
        try:
            check_label_value(version_id)
        except ValueError as exc:
            raise ChartError(str(exc)) from None
    violate = frozenset(violate)
    limits = limits or Limits()
    options = fetch_options or FetchOptions(archive=limits.archive)

    ref = parse_as_helm(helm_chart_url) if chart_references == "helm" else parse_chart_url(helm_chart_url,
                                                                                            violate=violate)
    workdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="prepare-", dir=workdir))
    try:
        archive = fetch_chart(ref, registry_auth, work / "fetch", options, violate=violate)
        chart_dir = extract_chart(archive, work / "chart", limits.archive)
        if not ref.exact:  # Helm, and so NVIDIA, takes whatever chart the reference holds
            # The CHART-MISSING-REFUSED mutant deploys another version in place of a missing one.
            _check_identity(ref, chart_dir, limits.render, any_version=rules.CHART_MISSING_REFUSED in violate)
        if rules.SUBCHART_MISSING_DEPENDENCY_REFUSED in violate:
            drop_missing_dependencies(chart_dir)

        defaults = chart_defaults(chart_dir, limits.render) if overrides.needs_defaults(violate) else {}
        values = overrides.effective_configuration(configuration, defaults, violate)

        def render(with_values: Mapping[str, Any], folder: str) -> Rendered:
            return render_chart(
                chart_dir, release=release_name, namespace=namespace, values=with_values,
                workdir=work / folder, limits=limits.render, kube_version=kube_version,
            )

        rendered = render(values, "render")
        if rules.KIND_LIST_REFUSED in violate:
            rendered.objects = expand_lists(rendered.objects)
        # The OVERRIDES-VALIDATED mutant judges the chart's defaults but applies the overridden render.
        judged = render({}, "render-defaults") if rules.OVERRIDES_VALIDATED in violate and values else rendered
        found = validate(
            judged, service_name=service_name, inference_port=inference_port, policy=policy, violate=violate,
            max_objects=limits.max_objects, max_object_bytes=limits.render.max_object_bytes,
        )
        if rules.SUBCHART_VALID_DEPLOYS in violate:
            # Judged whole (a forbidden kind in a subchart is still refused), installed without its subcharts.
            rendered.objects = without_subcharts(rendered.objects)
        objects = finalize(
            rendered, namespace=namespace, pull_secret_names=[pull_secret_name], version_id=version_id,
            violate=violate,
        )
    except ChartError:
        raise
    except OSError as exc:
        raise InternalChartError(f"the chart could not be prepared: {exc.strerror or exc}") from exc
    except Exception as exc:  # the contract: only ChartError leaves prepare()
        raise InternalChartError(f"the chart could not be prepared: {type(exc).__name__}: {exc}") from exc
    finally:
        if not keep_workdir:
            shutil.rmtree(work, ignore_errors=True)

    keep_hooks = rules.HOOKS_NOT_CREATED in violate or rules.HOOKS_NOT_RUN in violate
    dropped = () if keep_hooks else (
        *(DroppedHook(h.kind, h.name, h.source, h.hook_events) for h in rendered.hooks),
        *(DroppedHook("", "", "", (t,)) for t in rendered.unknown_hooks),
    )
    skipped = () if rules.CRD_NOT_INSTALLED in violate else tuple(f"{c.ref} ({c.source})" for c in rendered.crds)
    quiet = rules.OBJECT_CHECKS if object_checks == "logged" else frozenset()
    logged = [v for v in found if v.rule in quiet]
    found = [v for v in found if v.rule not in quiet]
    return Prepared(
        chart=ref,
        objects=tuple(objects),
        pull_secret=pull_secret_manifest(pull_secret_name, namespace, as_list(registry_auth), version_id=version_id),
        dropped_hooks=tuple(dropped),
        skipped_crds=skipped,
        violations=tuple(found),
        ignored=tuple(rendered.ignored),
        logged=tuple(logged),
    )


def _check_identity(ref: ChartRef, chart_dir: Path, limits: RenderLimits, *, any_version: bool = False) -> None:
    """The archive must hold the chart the URL names (an https URL can point at anything)."""
    try:
        meta = as_dict(load_document((chart_dir / "Chart.yaml").read_text(encoding="utf-8"), max_expanded=10_000))
    except ManifestError as exc:
        raise ChartMismatchError(f"the chart's Chart.yaml is refused: {exc.reason}") from None
    name, version = str(meta.get("name", "")), str(meta.get("version", ""))
    # OCI tags cannot carry '+', so helm stores build metadata with '_' instead.
    same_version = any_version or version.replace("+", "_") == ref.version.replace("+", "_")
    if name != ref.name or not same_version:
        raise ChartMismatchError(
            f"helmChart names chart {ref.name} version {ref.version}, but the archive holds {name or '(no name)'}"
            f" version {version or '(no version)'}"
        )
