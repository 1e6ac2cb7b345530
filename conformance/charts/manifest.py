"""The chart manifest of a run: what a harness needs to create one function per case.

`<out>/manifests/<run-id>.json` holds, per case: the chart name and version, the package, the OCI digest
(null until pushed), the NVCF `helmChart` URL, the mini-service facts (helmChartServiceName,
inferencePort, inferenceUrl, suggested instanceType/gpu), the ids of the catalog rules that use it and,
for a refused case and its fixed twin, which is which (`twin`, `twinOf`, `fix`).
Builds and pushes of some cases update their entries and leave the others alone.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from conformance.charts import naming
from conformance.charts.cases import Case
from conformance.charts.pipeline import BuiltChart
from conformance.charts.push import PushedChart
from conformance.errors import ConformanceError
from conformance.paths import ROOT

MANIFEST_FORMAT = "nvcf-conformance-charts/1"
CATALOG = ROOT / "conformance" / "catalog" / "rules.yaml"


def manifest_path(out: Path, run_id: str) -> Path:
    return out / "manifests" / f"{run_id}.json"


def rules_by_case(catalog: Path = CATALOG) -> dict[str, list[str]]:
    """case id → ids of the catalog rules whose `charts` name it; empty when there is no catalog yet.

    Read leniently on purpose: the catalog's own loader is the one that judges it, and a half-written
    catalog must not stop charts from being built.
    """
    try:
        data = yaml.safe_load(catalog.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    rules: Iterable[Any]
    if isinstance(data, dict) and isinstance(data.get("rules"), list):
        rules = data["rules"]
    elif isinstance(data, list):
        rules = data
    elif isinstance(data, dict):
        rules = ({"id": key, **value} for key, value in data.items() if isinstance(value, dict))
    else:
        return {}
    index: dict[str, list[str]] = {}
    for rule in rules:
        if not isinstance(rule, dict) or not isinstance(rule.get("id"), str):
            continue
        for case_id in rule.get("charts") or []:
            if isinstance(case_id, str):
                index.setdefault(case_id, []).append(rule["id"])
    return {case_id: sorted(set(ids)) for case_id, ids in index.items()}


def case_entry(
    case: Case,
    *,
    registry: str | None,
    repository: str,
    rules: Sequence[str],
    built: BuiltChart | None = None,
    pushed: PushedChart | None = None,
) -> dict[str, Any]:
    """One case's manifest entry. `registry` is host:port (None when no registry is known yet)."""
    name, version = case.chart_name, case.chart_version
    fn = case.function
    return {
        "case": case.id,
        "chart": name,
        "version": version,
        "digest": pushed.digest if pushed else None,
        "helmChart": naming.helm_chart_url(registry, repository, name, version) if registry else None,
        "ociRef": naming.oci_ref(registry, repository, name, version) if registry else None,
        "helmChartServiceName": fn.helm_chart_service_name,
        "inferencePort": fn.inference_port,
        "inferenceUrl": fn.inference_url,
        "instanceType": fn.instance_type,
        "gpu": fn.gpu,
        "rules": list(rules),
        "violates": list(case.violates),
        "twin": case.twin_id,  # the case id of this refused case's fixed twin
        "twinOf": case.twin_of,  # for a fixed twin: the refused case it fixes
        "fix": case.fix,
        "lint": case.lint,
        "package": str(built.package) if built else None,
        "packageSha256": built.sha256 if built else None,
        "chartDir": str(built.chart_dir) if built else None,
        "description": case.description,
    }


def load(out: Path, run_id: str) -> dict[str, Any] | None:
    path = manifest_path(out, run_id)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConformanceError(f"{path}: unreadable chart manifest ({exc}); delete it and run `charts build`") from None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise ConformanceError(f"{path}: not a chart manifest of this harness; delete it and run `charts build`")
    return data


def update(
    out: Path,
    run_id: str,
    entries: Sequence[dict[str, Any]],
    *,
    registry: str | None,
    repository: str,
    helm_version: str | None = None,
) -> dict[str, Any]:
    """Merge `entries` into the run's manifest (by case id) and write it atomically."""
    current = load(out, run_id) or {"format": MANIFEST_FORMAT, "runId": run_id, "charts": []}
    by_case = {entry["case"]: entry for entry in current.get("charts", [])}
    same_target = current.get("registry") == registry and current.get("repository") == repository
    for entry in entries:
        old = by_case.get(entry["case"])
        # A rebuild of an unchanged package keeps the digest its earlier push recorded.
        if (
            entry["digest"] is None
            and old is not None
            and same_target
            and old.get("packageSha256") == entry["packageSha256"]
        ):
            entry = {**entry, "digest": old.get("digest")}
        by_case[entry["case"]] = entry
    if not same_target and registry is not None:
        # Entries not touched now still point at the old registry: their digests say nothing here.
        for case_id, entry in by_case.items():
            if case_id not in {e["case"] for e in entries}:
                by_case[case_id] = {**entry, "digest": None, "helmChart": None, "ociRef": None}
    data = {
        **current,
        "runId": run_id,
        "registry": registry if registry is not None else current.get("registry"),
        "repository": repository,
        "helmVersion": helm_version or current.get("helmVersion"),
        "updatedAt": datetime.now(UTC).isoformat(timespec="seconds"),
        "charts": [by_case[key] for key in sorted(by_case)],
    }
    path = manifest_path(out, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)
    return data
