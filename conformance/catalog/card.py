"""One card per rule: everything about a rule, reached from its catalog id (`nvcf-conformance list RULE`).

A card joins what lives in different places for good reasons: the statement and variants (rules.yaml),
each variant's chart overlay and fixed twin (sample-charts/cases/), the tests that claim the rule
(suites/, by marker), the mutant that proves those tests can fail (mutants.yaml) and the reference code
that mutant switches (the modules that use `rules.<NAME>` of reference/rules.py), and the verdict
NVIDIA's personality must get. Nothing on the card is kept by hand: each part is read from its source.

The reference is read as text, never imported: the harness does not depend on it.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from conformance.catalog.load import Catalog, Rule
from conformance.errors import ConfigError

# The mutation package is the one place that says which mutant breaks a rule (it needs only the catalog).
from conformance.mutation.mutants import Mapping as MutantMapping
from conformance.mutation.mutants import load_mapping, mutant_for
from conformance.paths import ROOT, SAMPLE_CHARTS

REFERENCE_DIR = ROOT / "reference"
CASES_DIR = SAMPLE_CHARTS / "cases"
PERSONALITIES_DIR = ROOT / "conformance" / "mutation" / "personalities"


@dataclass(frozen=True)
class VariantCard:
    case: str
    param: str | None
    overlay: str  # the case's overlay file, relative to the checkout
    twin: str | None  # the fixed twin's case id, for a case that breaks a rule


@dataclass(frozen=True)
class MutantCard:
    violate: tuple[str, ...]  # `nvcf-reference serve --violate` ids (empty: no mutant)
    args: tuple[str, ...]
    sites: tuple[str, ...]  # file:line of the reference code each violated id switches
    why_none: str | None  # no-mutant or pending, with the reason
    note: str | None


@dataclass(frozen=True)
class Card:
    id: str
    level: str
    profiles: tuple[str, ...]
    doc: str
    statement: str
    outcomes: tuple[str, ...]
    derived: str | None
    variants: tuple[VariantCard, ...]
    tests: tuple[str, ...]
    mutant: MutantCard
    divergence: str | None
    notes: str | None
    personality: dict[str, str]  # personality name → the verdict its table expects

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def mutant_sites(reference_dir: Path = REFERENCE_DIR) -> dict[str, list[str]]:
    """Rule id → `file:line` of every use of its name in reference/rules.py (`rules.NAME`), read as text.

    A name may stand for several ids (a table such as SEC_CURRENT_OF): each id gets that name's uses.
    """
    rules_file = reference_dir / "rules.py"
    try:
        tree = ast.parse(rules_file.read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return {}
    ids_of: dict[str, set[str]] = {}
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else (
            node.target if isinstance(node, ast.AnnAssign) else None)
        if not isinstance(target, ast.Name) or node.value is None:
            continue
        ids_of[target.id] = {c.value for c in ast.walk(node.value)
                             if isinstance(c, ast.Constant) and isinstance(c.value, str) and c.value.isupper()}
    sites: dict[str, list[str]] = defaultdict(list)
    for path in sorted(reference_dir.rglob("*.py")):
        if path == rules_file:
            continue
        try:
            module = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError):
            continue
        where = path.relative_to(reference_dir.parent)
        for node in ast.walk(module):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "rules"
                    and node.attr in ids_of):
                for rule_id in ids_of[node.attr]:
                    sites[rule_id].append(f"{where}:{node.lineno}")
    return {k: sorted(set(v), key=_site_order) for k, v in sites.items()}


def _site_order(site: str) -> tuple[str, int]:
    path, _, line = site.rpartition(":")
    return path, int(line)


def personality_verdicts(folder: Path = PERSONALITIES_DIR) -> dict[str, dict[str, str]]:
    """Personality name → {rule id: expected verdict}, from the tables `make nvidia-verdicts` checks."""
    tables: dict[str, dict[str, str]] = {}
    for path in sorted(folder.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: unreadable personality table ({exc})") from None
        tables[path.stem] = {str(k): str(v) for k, v in (data.get("verdicts") or {}).items()}
    return tables


def _twin(case: str, cases_dir: Path) -> str | None:
    try:
        data = yaml.safe_load((cases_dir / f"{case}.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return None
    return f"{case}-twin" if isinstance(data, dict) and isinstance(data.get("twin"), dict) else None


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def build_card(rule: Rule, tests: Iterable[str], *, mutants: MutantMapping, sites: Mapping[str, list[str]],
               verdicts: Mapping[str, Mapping[str, str]], cases_dir: Path = CASES_DIR) -> Card:
    mutant = mutant_for(rule, mutants)
    variants = tuple(
        VariantCard(case=v.case, param=v.param, overlay=_relative(cases_dir / f"{v.case}.yaml"),
                    twin=_twin(v.case, cases_dir))
        for v in rule.variants())
    why_none = (f"no mutant: {mutant.no_mutant}" if mutant.no_mutant
                else f"pending: {mutant.pending}" if mutant.pending else None)
    return Card(
        id=rule.id, level=rule.level, profiles=tuple(rule.profiles), doc=rule.doc, statement=rule.statement,
        outcomes=tuple(rule.outcomes), derived=rule.derived, variants=variants, tests=tuple(tests),
        mutant=MutantCard(violate=mutant.violate, args=mutant.args,
                          sites=tuple(s for rid in mutant.violate for s in sites.get(rid, ())),
                          why_none=why_none, note=mutant.note),
        divergence=rule.divergence, notes=rule.notes,
        personality={name: table[rule.id] for name, table in verdicts.items() if rule.id in table},
    )


def cards(catalog: Catalog, rule_ids: Iterable[str], tests: Mapping[str, list[str]]) -> list[Card]:
    wanted = [r.upper() for r in rule_ids]
    known = {r.id: r for r in catalog}
    unknown = [r for r in wanted if r not in known]
    if unknown:
        raise ConfigError(f"not in the catalog: {', '.join(unknown)} (`nvcf-conformance list` shows every id)")
    mutants, sites, verdicts = load_mapping(), mutant_sites(), personality_verdicts()
    return [build_card(known[r], tests.get(r, []), mutants=mutants, sites=sites, verdicts=verdicts) for r in wanted]


def _by_file(sites: Iterable[str]) -> list[str]:
    lines: dict[str, list[str]] = {}
    for site in sites:
        path, _, line = site.rpartition(":")
        lines.setdefault(path, []).append(line)
    return [f"{path}:{','.join(numbers)}" for path, numbers in lines.items()]


def render(card: Card) -> str:
    """The card as a reader scans it: headings on the left, one fact per line."""
    lines = [f"{card.id}  {card.level}  [{', '.join(card.profiles)}]  doc: {card.doc}", "", f"  {card.statement}", ""]
    lines.append(f"outcomes:    {', '.join(card.outcomes)}")
    if card.derived:
        lines.append(f"derived:     judged on the items of the rules it is derived from ({card.derived})")
    if card.variants:
        lines.append("variants:    case x param → overlay (fixed twin)")
        for v in card.variants:
            twin = f"  (twin {v.twin})" if v.twin else ""
            lines.append(f"  - {v.case}{f' x {v.param}' if v.param else ''} → {v.overlay}{twin}")
    lines.append("tests:" + ("" if card.tests else "       - (no test claims this rule)"))
    lines += [f"  - {t}" for t in card.tests]
    m = card.mutant
    if m.violate:
        args = f" {' '.join(m.args)}" if m.args else ""
        lines.append(f"mutant:      nvcf-reference serve --violate {','.join(m.violate)}{args}")
        lines += [f"  - {s}" for s in _by_file(m.sites)] or ["  - (no reference code names this id)"]
    else:
        lines.append(f"mutant:      {m.why_none}")
    if m.note:
        lines.append(f"  note: {m.note}")
    for name, verdict in card.personality.items():
        lines.append(f"personality: {name} → {verdict}")
    if card.divergence:
        lines.append(f"divergence:  {card.divergence}")
    if card.notes:
        lines.append(f"notes:       {card.notes}")
    return "\n".join(lines)
