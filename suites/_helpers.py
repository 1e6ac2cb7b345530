"""Small shared pieces of the suites: request bodies and instance-type arithmetic."""

from __future__ import annotations

import re
import uuid
from typing import Any

from conformance.target.config import INSTANCE_TYPE_GRAMMAR, TargetConfig


def instance_parts(target: TargetConfig) -> dict[str, str]:
    """The parts (csp, gpu, n) of the target's single-node instance type.

    Instance-type names are free text on some backends (NVIDIA's statically configured clusters): a
    configured name outside the grammar is not a fault of the backend, so the parts then come from
    `deployment.csp` and `deployment.gpu` with one GPU.
    """
    match = INSTANCE_TYPE_GRAMMAR.match(target.deployment_spec()["instanceType"])
    if match is not None:
        return match.groupdict()
    return {"csp": str(target["deployment.csp"]), "gpu": str(target["deployment.gpu"]), "n": "1", "nodes": None}


def malformed_instance_type(target: TargetConfig, how: str) -> str:
    """One malformation of the target's own single-node type, named as in ITYPE-MALFORMED-REFUSED's params.

    Built from the grammar's parts, so a backend with free-text names refuses them as unknown names."""
    p = instance_parts(target)
    csp, gpu, n = p["csp"], p["gpu"], p["n"]
    return {
        "no-gpu-count": f"{csp}.GPU.{gpu}",
        "count-without-x": f"{csp}.GPU.{gpu}_{n}",
        "x-without-count": f"{csp}.GPU.{gpu}_x",
        "node-count-without-x": f"{csp}.GPU.{gpu}_{n}x.2",
        "empty-node-suffix": f"{csp}.GPU.{gpu}_{n}x.x",
        "no-csp": f"GPU.{gpu}_{n}x",
        "no-gpu-segment": f"{csp}.{gpu}_{n}x",
    }[how]


def ready_delay_configuration(seconds: float) -> dict[str, Any]:
    """Overrides that keep the mini-service unready for `seconds` after it starts (MINI_SERVICE_READY_DELAY)."""
    return {"miniService": {"env": [{"name": "MINI_SERVICE_READY_DELAY", "value": f"{seconds:g}"}]}}


def identity_configuration(name: str) -> dict[str, Any]:
    """Overrides that make the mini-service sign its answers `served-by: <name>` (MINI_SERVICE_IDENTITY)."""
    return {"miniService": {"env": [{"name": "MINI_SERVICE_IDENTITY", "value": name}]}}


def unknown_id() -> str:
    return str(uuid.uuid4())


def case_overlay(case_id: str) -> Any:
    """The sample-chart case as the chart pipeline reads it (templates, values, violates)."""
    from conformance.charts.cases import CASES_DIR, parse_case

    return parse_case(CASES_DIR / f"{case_id}.yaml")


def case_kinds(case_id: str) -> list[str]:
    """Every `kind:` the case's own templates (and subcharts) declare."""
    case = case_overlay(case_id)
    texts = list(case.templates.values()) + [t for s in case.subcharts for t in s.templates.values()]
    return sorted({m for text in texts for m in re.findall(r"(?m)^\s*kind:\s*([A-Za-z]+)\s*$", text)})


def case_object_refs(case_id: str) -> list[tuple[str, str]]:
    """(kind, metadata.name) of each object written literally in the case's own templates and CRDs.

    Kind matters: a hook Job and the mini-service Service of a hook case share the case's name.
    """
    case = case_overlay(case_id)
    return _object_refs([*case.templates.values(), *case.crds.values()])


def subchart_object_refs(case_id: str) -> list[tuple[str, str]]:
    """(kind, metadata.name) of each object written literally in the case's subcharts' templates."""
    return _object_refs([text for sub in case_overlay(case_id).subcharts for text in sub.templates.values()])


def _object_refs(texts: list[str]) -> list[tuple[str, str]]:
    refs: set[tuple[str, str]] = set()
    for text in texts:
        for doc in re.split(r"(?m)^---\s*$", text):
            kind = re.search(r"(?m)^kind:\s*([A-Za-z]+)\s*$", doc)
            name = re.search(r"(?m)^\s{2}name:\s*([a-z0-9][a-z0-9.-]*)\s*$", doc)
            if kind and name:
                refs.add((kind.group(1), name.group(1)))
    return sorted(refs)
