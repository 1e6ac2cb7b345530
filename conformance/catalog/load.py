"""Load `rules.yaml` into typed, immutable rules, refusing a malformed catalog with one clear line.

Everything downstream (suites, reports, the mutation runner) trusts the catalog, so every check that
can be made statically is made here, and the first problem is reported as
`<file>: rules[<i>] (<ID>): field '<name>': <problem>`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, NamedTuple, cast

import jsonschema
import yaml

from conformance.catalog import schema
from conformance.errors import ConfigError

DEFAULT_PATH = Path(__file__).resolve().with_name("rules.yaml")

Level = Literal["MUST", "SHOULD", "EXT"]
Param = str | int


class Variant(NamedTuple):
    """One parametrisation of a rule: the value a test varies and the chart case that carries it."""

    param: Param | None
    case: str


@dataclass(frozen=True)
class Rule:
    id: str
    level: Level
    profiles: tuple[str, ...]
    doc: str
    statement: str
    outcomes: tuple[str, ...]
    charts: tuple[str, ...]
    params: tuple[Param, ...] = ()
    divergence: str | None = None
    notes: str | None = None
    derived: str | None = None  # a `schema.DERIVED` key: the rule's results come from other rules' items

    def variants(self) -> tuple[Variant, ...]:
        """The (param, case) pairs a test runs: params pair with charts by position, or share one chart."""
        if not self.params:
            return tuple(Variant(None, case) for case in self.charts)
        if len(self.charts) == 1:
            return tuple(Variant(p, self.charts[0]) for p in self.params)
        return tuple(Variant(p, c) for p, c in zip(self.params, self.charts, strict=True))

    def applies(self, claimed: Iterable[str]) -> bool:
        """Whether a run claiming `claimed` profiles asserts this rule (`core` is always claimed)."""
        return set(self.profiles) <= {"core", *claimed}

    def accepts(self, outcome: str) -> bool:
        """Whether `outcome` is conformant for this rule."""
        return outcome in self.outcomes


@dataclass(frozen=True)
class Catalog:
    path: Path
    rules: tuple[Rule, ...]
    _by_id: Mapping[str, Rule] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A frozen dataclass still needs its index; building it once keeps lookups O(1) for the plugin.
        object.__setattr__(self, "_by_id", MappingProxyType({r.id: r for r in self.rules}))

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._by_id

    def __getitem__(self, rule_id: str) -> Rule:
        try:
            return self._by_id[rule_id]
        except KeyError:
            raise KeyError(f"no rule '{rule_id}' in {self.path}") from None

    def get(self, rule_id: str) -> Rule | None:
        return self._by_id.get(rule_id)

    def ids(self) -> tuple[str, ...]:
        return tuple(self._by_id)

    def by_profile(self, profile: str) -> tuple[Rule, ...]:
        """Rules that list `profile`."""
        return tuple(r for r in self.rules if profile in r.profiles)

    def by_level(self, level: str) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.level == level)

    def by_chart(self, case: str) -> tuple[Rule, ...]:
        """Rules whose tests use the chart case `case`."""
        return tuple(r for r in self.rules if case in r.charts)

    def in_scope(self, claimed: Iterable[str]) -> tuple[Rule, ...]:
        """Rules a run claiming `claimed` profiles asserts."""
        claimed = set(claimed)
        return tuple(r for r in self.rules if r.applies(claimed))

    def cases(self) -> set[str]:
        """Every chart case id the catalog names."""
        return {case for r in self.rules for case in r.charts}


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Load and check the catalog at `path` (default: the shipped `rules.yaml`)."""
    path = Path(path) if path is not None else DEFAULT_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: the rule catalog does not exist") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the rule catalog: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: {_yaml_problem(exc)}") from None
    _check_schema(path, data)
    rules = tuple(_to_rule(raw) for raw in data["rules"])
    _check_semantics(path, rules)
    return Catalog(path=path, rules=_with_derived_charts(rules))


# The outcomes that are refusals: a rule that allows one of them yields REFUSAL-NAMES-OFFENDER results.
REFUSAL_OUTCOMES = frozenset({"refused-at-creation", "refused-at-deployment", "deployment-error"})


def _with_derived_charts(rules: tuple[Rule, ...]) -> tuple[Rule, ...]:
    """A derived rule's charts are those of the rules it is judged on, so a `--case` selection of one
    of them keeps it in scope; derived, not kept by hand."""
    refusal_cases = tuple(dict.fromkeys(
        case for r in rules if r.derived is None and REFUSAL_OUTCOMES & set(r.outcomes) for case in r.charts))
    return tuple(replace(r, charts=refusal_cases) if r.derived == "refusals" else r for r in rules)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"invalid YAML{where}: {_one_line(problem)}"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _where(data: Any, index: int) -> str:
    rule_id = None
    rules = data.get("rules") if isinstance(data, dict) else None
    if isinstance(rules, list) and index < len(rules) and isinstance(rules[index], dict):
        rule_id = rules[index].get("id")
    return f"rules[{index}] ({rule_id})" if isinstance(rule_id, str) else f"rules[{index}]"


def _schema_problem(error: jsonschema.ValidationError) -> tuple[str | None, str]:
    """The field an error is about (when the path does not end in it) and a one-line problem."""
    kind = error.validator
    value = error.instance
    if kind == "required":
        present = value if isinstance(value, dict) else {}
        missing = [f for f in cast(list[str], error.validator_value) if f not in present]
        return (missing[0] if missing else None), "is missing (required)"
    if kind == "additionalProperties":
        allowed = error.schema.get("properties", {})
        extra = sorted(k for k in value if k not in allowed) if isinstance(value, dict) else []
        known = ", ".join(allowed)
        return (extra[0] if extra else None), f"is not a known field (known: {known})"
    if kind == "enum":
        choices = ", ".join(str(c) for c in cast(list[Any], error.validator_value))
        return None, f"{value!r} is not one of: {choices}"
    if kind == "const":
        return None, f"{value!r} must be {error.validator_value!r}"
    if kind == "pattern":
        if "\n" in str(value):
            return None, "must be a single line"
        return None, f"{value!r} does not match {error.validator_value}"
    if kind == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        got = "nothing (empty)" if value is None else type(value).__name__
        return None, f"must be of type {expected}, got {got}"
    if kind == "uniqueItems":
        return None, "lists an item twice"
    if kind == "minItems":
        return None, "must not be empty"
    if kind in ("minLength", "maxLength"):
        return None, f"must be {error.validator_value} characters {'or more' if kind == 'minLength' else 'at most'}"
    return None, _one_line(error.message)


_FIELDS_IN_ORDER = ("version", "rules", *schema.REQUIRED_FIELDS, *schema.OPTIONAL_FIELDS)
_FIELD_ORDER = {name: i for i, name in enumerate(_FIELDS_IN_ORDER)}


def _document_order(error: jsonschema.ValidationError) -> list[tuple[int, int, str]]:
    # Rules by index, then fields in the order a rule is written: the first problem a reader meets.
    return [(0, p, "") if isinstance(p, int) else (1, _FIELD_ORDER.get(p, 99), p) for p in error.absolute_path]


def _check_schema(path: Path, data: Any) -> None:
    validator = jsonschema.Draft202012Validator(schema.json_schema())
    errors = sorted(validator.iter_errors(data), key=_document_order)
    if not errors:
        return
    error = errors[0]
    location = list(error.absolute_path)
    field_hint, problem = _schema_problem(error)
    if len(location) >= 2 and location[0] == "rules" and isinstance(location[1], int):
        where, rest, whole = _where(data, location[1]), location[2:], "(rule)"
    else:
        where, rest, whole = "top level", location, "(document)"
    name = str(rest[0]) if rest else (field_hint or whole)
    if len(rest) > 1 and isinstance(rest[1], int):
        problem = f"item {rest[1]} {problem}"
    raise ConfigError(f"{path}: {where}: field '{name}': {problem}")


def _to_rule(raw: dict[str, Any]) -> Rule:
    return Rule(
        id=raw["id"],
        level=raw["level"],
        profiles=tuple(raw["profiles"]),
        doc=raw["doc"],
        statement=raw["statement"],
        outcomes=tuple(raw["outcomes"]),
        charts=tuple(raw.get("charts", ())),
        params=tuple(raw.get("params", ())),
        divergence=raw.get("divergence"),
        notes=raw.get("notes"),
        derived=raw.get("derived"),
    )


def _rule_problem(rule: Rule) -> tuple[str, str] | None:
    """The first cross-field problem of one rule, as (field, problem)."""
    profiles = set(rule.profiles)
    if rule.level == "EXT" and "ext" not in profiles:
        return "profiles", "an EXT rule must list profile 'ext' (undocumented behaviour is opt-in)"
    if rule.level != "EXT" and "ext" in profiles:
        return "profiles", f"only EXT rules list profile 'ext', this one is {rule.level}"
    for pair in schema.EXCLUSIVE_PROFILES:
        if pair <= profiles:
            return "profiles", f"lists both of {' and '.join(sorted(pair))}, which exclude each other"
    if profiles & {"security-current", "security-enforced"} and rule.level != "SHOULD":
        return "level", "security-standard rules are SHOULD (documented as not enforced yet)"
    source, section = rule.doc.split("#", 1)
    if rule.level != "EXT" and source not in schema.DOC_SOURCES_SPEC:
        return "doc", f"a {rule.level} rule cites the documentation ({', '.join(schema.DOC_SOURCES_SPEC)})"
    if source == "helm-based-functions" and section not in schema.HELM_DOC_SECTIONS:
        return "doc", f"unknown section '{section}' (known: {', '.join(schema.HELM_DOC_SECTIONS)})"
    if source != "helm-based-functions" and not re.match(schema.NUMBERED_SECTION_PATTERN, section):
        return "doc", f"cite {source} by its numbered section, e.g. {source}#1.3, not '{section}'"
    if not rule.statement.rstrip().endswith("."):
        return "statement", "must be one sentence ending with a full stop"
    if rule.derived is not None and (rule.charts or rule.params):
        return "derived", "a derived rule takes its charts from the rules it is judged on: list no charts or params"
    if rule.derived is None and not rule.charts:
        return "charts", "is missing (required unless the rule is derived)"
    if len(rule.charts) > 1 and len(rule.params) != len(rule.charts):
        return "params", f"needs one param per chart ({len(rule.charts)}) so each case has a meaning"
    return None


def _check_semantics(path: Path, rules: tuple[Rule, ...]) -> None:
    seen: dict[str, int] = {}
    for index, rule in enumerate(rules):
        where = f"rules[{index}] ({rule.id})"
        if rule.id in seen:
            raise ConfigError(f"{path}: {where}: field 'id': duplicate of rules[{seen[rule.id]}]")
        seen[rule.id] = index
        problem = _rule_problem(rule)
        if problem is not None:
            name, text = problem
            raise ConfigError(f"{path}: {where}: field '{name}': {text}")
