"""Load and validate the case overlays in `sample-charts/cases/<case-id>.yaml`.

An overlay describes how one sample chart differs from the base chart and what it must render. The
format is pinned by `overlay.schema.json`; anything the schema cannot say (a removed template that the
base does not have, kind counts that do not add up, two cases claiming one chart name) is checked here,
and every failure is a ConfigError naming the file and the field.

A refused case (non-empty `violates`) carries a `twin:` section: a partial overlay merged over the
case itself that removes only the offence. The merge yields a second, conformant case with the id
`<case id>-twin`; it is built, pushed and listed like any other, and must deploy on a conformant NVCF.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
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
TWIN_SUFFIX = "-twin"
# Keys of a case that its twin never inherits: the twin states its own fix and breaks nothing.
_NOT_INHERITED = ("description", "violates", "twin")


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
    twin_of: str | None = None  # for a twin: the refused case it fixes
    fix: str | None = None  # for a twin: what it changes, in one line
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def package_name(self) -> str:
        """The file `helm package` writes: NAME-VERSION.tgz."""
        return f"{self.chart_name}-{self.chart_version}.tgz"

    @property
    def twin_id(self) -> str | None:
        """The id of this case's fixed twin, when the overlay has a `twin:` section."""
        return twin_id(self.id) if isinstance(self.raw.get("twin"), dict) else None


def twin_id(case_id: str) -> str:
    return case_id + TWIN_SUFFIX


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's `-f` semantics: maps merge key by key, lists and scalars replace, None deletes the key."""
    merged = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


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

    _validate(path, data)
    if "twin" in data and not data.get("violates"):
        raise _fail(path, "twin", "only a refused case (a non-empty `violates`) has a fixed twin")
    return _build_case(case_id, path, source, data, base_dir)


def _validate(path: Path, data: dict[str, Any], prefix: str = "") -> None:
    errors = sorted(_validator().iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        where, reason = _schema_error_message(best)
        raise _fail(path, prefix + where, reason)


def make_twin(case: Case, base_dir: Path = BASE_DIR) -> Case:
    """The conformant twin of a refused case: the case's overlay with its `twin:` section merged over it.

    The twin keeps the case's mini-service name (templates may spell it out) but gets a chart name of
    its own, `<chart name>-twin` unless the section names one, so the two never share a registry tag.
    """
    section = case.raw.get("twin")
    if not isinstance(section, dict):
        raise _fail(case.path, "twin", f"case {case.id!r} has no fixed twin")
    patch = {k: v for k, v in section.items() if k != "fix"}
    inherited = {k: v for k, v in case.raw.items() if k not in _NOT_INHERITED}
    data = deep_merge(inherited, patch)
    fix = str(section["fix"]).strip()
    data["description"] = f"Fixed twin of {case.id}: {fix}"
    chart = data.setdefault("chart", {})
    chart.setdefault("name", case.chart_name + TWIN_SUFFIX)
    data.setdefault("function", {}).setdefault("helmChartServiceName", case.function.helm_chart_service_name)
    # The merged overlay is held to the full schema: a twin is a complete case, not a patch.
    _validate(case.path, data, prefix="twin: ")
    try:
        twin = _build_case(twin_id(case.id), case.path, case.source, data, base_dir)
    except ConfigError as exc:
        where = f"{display_path(case.path)}: "
        raise ConfigError(str(exc).replace(where, where + "twin: ", 1)) from None
    return replace(twin, twin_of=case.id, fix=fix)


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
        raw=data,
    )


def case_ids(cases_dir: Path = CASES_DIR) -> list[str]:
    return sorted(p.name.removesuffix(".yaml") for p in cases_dir.glob("*.yaml"))


def load_cases(
    ids: Iterable[str] | None = None,
    cases_dir: Path = CASES_DIR,
    base_dir: Path = BASE_DIR,
    *,
    twins: bool = False,
) -> list[Case]:
    """The named cases (all when `ids` is None), in id order, checked against each other.

    An id may name a twin (`<case id>-twin`). With `twins`, the fixed twins of the selected refused
    cases come along too.
    """
    if not cases_dir.is_dir():
        raise ConfigError(f"{display_path(cases_dir)}: the case overlay folder does not exist")
    every = case_ids(cases_dir)
    # Every overlay is parsed (and every twin derived) even for a selection, so `--case` cannot hide
    # a clash of chart names between the selection and the rest.
    parsed = {case_id: parse_case(cases_dir / f"{case_id}.yaml", base_dir) for case_id in every}
    derived = {case.twin_id: make_twin(case, base_dir) for case in parsed.values() if case.twin_id}
    _check_across([*parsed.values(), *derived.values()], cases_dir)
    known = {**parsed, **derived}
    wanted = list(every if ids is None else dict.fromkeys(ids))
    for case_id in wanted:
        if case_id in known:
            continue
        parent = case_id.removesuffix(TWIN_SUFFIX)
        if case_id.endswith(TWIN_SUFFIX) and parent in parsed:
            raise _fail(parsed[parent].path, "twin", f"there is no twin section, so no case {case_id!r}")
        raise ConfigError(
            f"{display_path(cases_dir / (case_id + '.yaml'))}: no such case overlay "
            f"(`nvcf-conformance charts list` shows the {len(every)} cases)"
        )
    if twins:
        wanted += [t for t in (known[c].twin_id for c in wanted) if t is not None]
    return [known[case_id] for case_id in sorted(set(wanted))]


def _check_across(cases: list[Case], cases_dir: Path) -> None:
    # Two cases with one name:version would overwrite each other's tag in the registry.
    owners: dict[tuple[str, str], Case] = {}
    for case in cases:
        key = (case.chart_name, case.chart_version)
        where = "twin: chart.name" if case.twin_of else "chart.name"
        if key in owners:
            other = owners[key]
            other_name = f"the twin in {display_path(other.path)}" if other.twin_of else display_path(other.path)
            raise _fail(
                case.path,
                where,
                f"chart {key[0]}-{key[1]} is also built by {other_name}; give one of them another name",
            )
        owners[key] = case
    ids = {case.id for case in cases if not case.twin_of}
    for case in cases:
        if case.twin_of and case.id in ids:
            raise _fail(
                cases_dir / f"{case.id}.yaml",
                "(file name)",
                f"the id {case.id!r} belongs to the twin of {case.twin_of}",
            )
