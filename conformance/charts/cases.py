"""Load and validate the case overlays in `sample-charts/cases/<case-id>.yaml`.

An overlay describes how one sample chart differs from the base chart and what it must render. The
format is pinned by `overlay.schema.json`; anything the schema cannot say (a removed template that the
base does not have, kind counts that do not add up, two cases claiming one chart name) is checked here,
and every failure is a ConfigError naming the file and the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from conformance.errors import ConfigError
from conformance.paths import ROOT, SAMPLE_CHARTS

BASE_DIR = SAMPLE_CHARTS / "base"
CASES_DIR = SAMPLE_CHARTS / "cases"
SCHEMA_PATH = Path(__file__).with_name("overlay.schema.json")

CASE_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
DEFAULT_VERSION = "1.0.0"
DEFAULT_INFERENCE_PORT = 8000
# The probe serves the KServe v2 protocol with one model named "echo" unless told otherwise.
DEFAULT_INFERENCE_URL = "/v2/models/echo/infer"


@dataclass(frozen=True)
class FunctionFacts:
    """What a harness passes to NVCF for this chart's function."""

    helm_chart_service_name: str
    inference_port: int
    inference_url: str
    instance_type: str | None = None
    gpu: str | None = None


@dataclass(frozen=True)
class Subchart:
    name: str
    version: str
    description: str
    values: dict[str, Any]
    templates: dict[str, str]
    crds: dict[str, str]


@dataclass(frozen=True)
class Expect:
    objects: int
    kinds: dict[str, int]
    hooks: dict[str, int]
    gvks: dict[str, int]
    service: str  # match | name-missing | port-mismatch


@dataclass(frozen=True)
class Case:
    id: str
    path: Path
    source: bytes  # the overlay file as read: part of the build cache key
    description: str
    chart_name: str
    chart_version: str
    chart_fields: dict[str, Any]  # other Chart.yaml fields (appVersion, kubeVersion, type, annotations)
    function: FunctionFacts
    rendered_service_name: str
    values: dict[str, Any]
    templates: dict[str, str]
    remove_templates: tuple[str, ...]
    crds: dict[str, str]
    files: dict[str, str]
    subcharts: tuple[Subchart, ...]
    lint: str  # pass | expect-failure
    lint_reason: str | None
    expect: Expect
    violates: tuple[str, ...]
    twin_of: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def package_name(self) -> str:
        """The file `helm package` writes: NAME-VERSION.tgz."""
        return f"{self.chart_name}-{self.chart_version}.tgz"


def display_path(path: Path) -> str:
    """A path as users should see it in an error: relative to the repository when inside it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def field_path(parts: Iterable[str | int]) -> str:
    """`subcharts[0].templates["daemonset.yaml"]` from ['subcharts', 0, 'templates', 'daemonset.yaml']."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out or "(top level)"


@cache
def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _schema_error_message(error: jsonschema.ValidationError) -> tuple[str, str]:
    """(field path, reason) for the schema error a user most needs to see."""
    parts: list[str | int] = list(error.absolute_path)
    reason = error.message
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        if extra:
            parts.append(extra[0])
            known = ", ".join(sorted(allowed)) or "none"
            reason = f"unknown key (known keys: {known})"
    elif error.validator == "required" and isinstance(error.instance, Mapping):
        missing = [k for k in error.validator_value if k not in error.instance]
        if missing:
            parts.append(missing[0])
            reason = "required key is missing"
    if "propertyNames" in error.absolute_schema_path:
        # The offending key is the instance itself; jsonschema puts no path step for it.
        parts.append(str(error.instance))
        reason = "not an allowed key here"
    if error.validator == "pattern" and "description" in error.schema:
        reason = f"{error.instance!r} is not valid: {error.schema['description']}"
    elif error.validator == "pattern" and "propertyNames" in error.absolute_schema_path:
        reason = "not an allowed key here"
    return field_path(parts), reason


def _fail(path: Path, where: str, reason: str) -> ConfigError:
    return ConfigError(f"{display_path(path)}: {where}: {reason}")


def _base_templates(base_dir: Path) -> set[str]:
    root = base_dir / "templates"
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def parse_case(path: Path, base_dir: Path = BASE_DIR) -> Case:
    """One overlay, validated. The case id is the file name without `.yaml`."""
    case_id = path.name.removesuffix(".yaml")
    if not CASE_ID.fullmatch(case_id):
        raise _fail(path, "file name", f"case id {case_id!r} must be lowercase words joined by '-'")
    try:
        source = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{display_path(path)}: no such case overlay") from None
    try:
        data = yaml.safe_load(source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(parse)"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise _fail(path, where, f"not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise _fail(path, "(top level)", "an overlay is a YAML mapping")

    errors = sorted(_validator().iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        where, reason = _schema_error_message(best)
        raise _fail(path, where, reason)
    return _build_case(case_id, path, source, data, base_dir)


def _build_case(case_id: str, path: Path, source: bytes, data: dict[str, Any], base_dir: Path) -> Case:
    chart = dict(data.get("chart", {}))
    chart_name = chart.pop("name", case_id)
    chart_version = chart.pop("version", DEFAULT_VERSION)

    fn = data.get("function", {})
    service_name = fn.get("helmChartServiceName", case_id)
    facts = FunctionFacts(
        helm_chart_service_name=service_name,
        inference_port=fn.get("inferencePort", DEFAULT_INFERENCE_PORT),
        inference_url=fn.get("inferenceUrl", DEFAULT_INFERENCE_URL),
        instance_type=fn.get("instanceType"),
        gpu=fn.get("gpu"),
    )

    base_templates = _base_templates(base_dir)
    removed = tuple(data.get("removeTemplates", []))
    for i, name in enumerate(removed):
        if name not in base_templates:
            known = ", ".join(sorted(base_templates))
            raise _fail(path, f"removeTemplates[{i}]", f"the base chart has no template {name!r} (it has: {known})")
    if "service.yaml" in removed and "renderedServiceName" in data:
        raise _fail(path, "renderedServiceName", "the base service.yaml is removed, so nothing renders this name")

    exp = data["expect"]
    kinds = dict(exp["kinds"])
    if sum(kinds.values()) != exp["objects"]:
        raise _fail(
            path, "expect.kinds", f"counts add up to {sum(kinds.values())} but expect.objects is {exp['objects']}"
        )
    expect = Expect(
        objects=exp["objects"],
        kinds=kinds,
        hooks=dict(exp.get("hooks", {})),
        gvks=dict(exp.get("gvks", {})),
        service=exp.get("service", "match"),
    )

    subcharts = []
    for i, sub in enumerate(data.get("subcharts", [])):
        if sub["name"] == chart_name:
            raise _fail(path, f"subcharts[{i}].name", "a subchart cannot share the parent chart's name")
        subcharts.append(
            Subchart(
                name=sub["name"],
                version=sub.get("version", DEFAULT_VERSION),
                description=sub.get("description", f"Subchart of the {case_id} sample chart."),
                values=dict(sub.get("values", {})),
                templates=dict(sub["templates"]),
                crds=dict(sub.get("crds", {})),
            )
        )
    if len({s.name for s in subcharts}) != len(subcharts):
        raise _fail(path, "subcharts", "two subcharts share a name")

    return Case(
        id=case_id,
        path=path,
        source=source,
        description=data["description"].strip(),
        chart_name=chart_name,
        chart_version=chart_version,
        chart_fields=chart,
        function=facts,
        rendered_service_name=data.get("renderedServiceName", service_name),
        values=dict(data.get("values", {})),
        templates=dict(data.get("templates", {})),
        remove_templates=removed,
        crds=dict(data.get("crds", {})),
        files=dict(data.get("files", {})),
        subcharts=tuple(subcharts),
        lint=data.get("lint", "pass"),
        lint_reason=data.get("lintReason"),
        expect=expect,
        violates=tuple(data.get("violates", [])),
        twin_of=data.get("twinOf"),
        raw=data,
    )


def case_ids(cases_dir: Path = CASES_DIR) -> list[str]:
    return sorted(p.name.removesuffix(".yaml") for p in cases_dir.glob("*.yaml"))


def load_cases(ids: Iterable[str] | None = None, cases_dir: Path = CASES_DIR, base_dir: Path = BASE_DIR) -> list[Case]:
    """The named cases (all when `ids` is None), in id order, checked against each other."""
    if not cases_dir.is_dir():
        raise ConfigError(f"{display_path(cases_dir)}: the case overlay folder does not exist")
    every = case_ids(cases_dir)
    wanted = every if ids is None else sorted(set(ids))
    for case_id in wanted:
        if case_id not in every:
            raise ConfigError(
                f"{display_path(cases_dir / (case_id + '.yaml'))}: no such case overlay "
                f"(`nvcf-conformance charts list` shows the {len(every)} cases)"
            )
    cases = [parse_case(cases_dir / f"{case_id}.yaml", base_dir) for case_id in wanted]
    _check_across(cases, set(every), cases_dir, base_dir)
    return cases


def _check_across(cases: list[Case], every: set[str], cases_dir: Path, base_dir: Path) -> None:
    # Two cases with one name:version would overwrite each other's tag in the registry; check the
    # whole folder, not just the selection, so `--case` cannot hide a clash.
    owners: dict[tuple[str, str], Path] = {}
    for case_id in sorted(every):
        path = cases_dir / f"{case_id}.yaml"
        case = next((c for c in cases if c.id == case_id), None) or parse_case(path, base_dir)
        key = (case.chart_name, case.chart_version)
        if key in owners:
            raise _fail(
                path,
                "chart.name",
                f"chart {key[0]}-{key[1]} is also built by {display_path(owners[key])}; give one of them another name",
            )
        owners[key] = path
    for case in cases:
        if case.twin_of is not None and case.twin_of not in every:
            raise _fail(case.path, "twinOf", f"no case {case.twin_of!r} in {display_path(cases_dir)}")
