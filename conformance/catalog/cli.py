"""`nvcf-conformance list`: the rule inventory, with the tests that claim each rule; `list RULE`: its card.

The point of the listing is to make gaps visible: a rule that no test claims shows `-` in TESTS and is
counted in the summary, and a test that claims an unknown rule id is reported. `--doc` does the same for
the spec page: each of its sentences with the rules that test it, and the sentences no rule tests yet.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from conformance.catalog import schema
from conformance.catalog.card import cards, render
from conformance.catalog.doctrace import DocTrace, Row, gaps_now_in_catalog, load_doc_trace, planned_rules, shorten
from conformance.catalog.load import REFUSAL_OUTCOMES, Catalog, Rule, load_catalog
from conformance.catalog.scan import tests_by_rule
from conformance.errors import ConfigError
from conformance.paths import ROOT

DEFAULT_SUITES = ROOT / "suites"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "list",
        help="print the rule catalog with the charts and tests of each rule",
        description=(
            "Print every rule of the catalog: id, level, profiles, chart cases and the tests in suites/ "
            "that carry its marker (`-` when none does)."
        ),
    )
    parser.add_argument(
        "rules", nargs="*", metavar="RULE",
        help="print the card of each rule instead: statement, variants (case x param with overlay and twin), "
             "tests, mutant and the reference code it switches, personality verdict, divergence",
    )
    parser.add_argument("--profile", choices=list(schema.PROFILES), help="only rules that list this profile")
    parser.add_argument("--level", type=str.upper, choices=list(schema.LEVELS), help="only rules of this level")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--catalog", type=Path, default=None, help="catalog file (default: the shipped one)")
    parser.add_argument(
        "--suites", type=Path, default=DEFAULT_SUITES, help=f"suites folder to scan (default: {DEFAULT_SUITES})"
    )
    parser.add_argument(
        "--doc",
        action="store_true",
        help=(
            "print the spec page's traceability instead: each sentence, bullet, step, heading and example of "
            "helm-based-functions with the rules that test it (or why none does), and the coverage "
            "(--profile, --level and --suites do not apply)"
        ),
    )
    parser.add_argument("--strict", action="store_true", help="with --doc: exit 1 when a unit of the page lacks a rule")
    parser.set_defaults(func=run_list)


def select(catalog: Catalog, profile: str | None, level: str | None) -> list[Rule]:
    return [r for r in catalog if (profile is None or profile in r.profiles) and (level is None or r.level == level)]


def summary(rules: Sequence[Rule], tests: dict[str, list[str]]) -> dict[str, Any]:
    levels = Counter(r.level for r in rules)
    return {
        "rules": len(rules),
        "levels": {level: levels.get(level, 0) for level in schema.LEVELS},
        "charts": len({c for r in rules for c in r.charts}),
        "rules_without_tests": sorted(r.id for r in rules if not tests.get(r.id)),
    }


def summary_line(info: dict[str, Any]) -> str:
    levels = ", ".join(f"{k} {v}" for k, v in info["levels"].items())
    return (
        f"{info['rules']} rules ({levels}), {info['charts']} charts, "
        f"{len(info['rules_without_tests'])} rules without tests"
    )


def _compact_cases(cases: Sequence[str]) -> str:
    if len(cases) == 1:
        return cases[0]
    # Case ids of one family share leading words (kind-forbidden-…); the count is what a reader scans for.
    common: list[str] = []
    for words in zip(*(case.split("-") for case in cases), strict=False):
        if len(set(words)) != 1:
            break
        common.append(words[0])
    if common:
        return f"{'-'.join(common)}-* ({len(cases)})"
    return f"{cases[0]},+{len(cases) - 1}"


def _compact_tests(tests: Sequence[str]) -> str:
    if not tests:
        return "-"
    first = tests[0].removeprefix("suites/")
    return first if len(tests) == 1 else f"{first} (+{len(tests) - 1})"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)] + [row[-1]]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _rule_json(rule: Rule, tests: list[str]) -> dict[str, Any]:
    return {
        "id": rule.id,
        "level": rule.level,
        "profiles": list(rule.profiles),
        "doc": rule.doc,
        "statement": rule.statement,
        "outcomes": list(rule.outcomes),
        "charts": list(rule.charts),
        "params": list(rule.params),
        "divergence": rule.divergence,
        "notes": rule.notes,
        "derived": rule.derived,
        "tests": tests,
    }


def with_derived_tests(catalog: Catalog, tests: dict[str, list[str]]) -> dict[str, list[str]]:
    """A derived rule is judged by the tests of the rules it is derived from (refusal tests, today)."""
    refusing = [r.id for r in catalog if r.derived is None and REFUSAL_OUTCOMES & set(r.outcomes)]
    derived = {r.id: [t for rid in refusing for t in tests.get(rid, [])] for r in catalog if r.derived == "refusals"}
    return {**tests, **derived}


def run_list(args: argparse.Namespace) -> int:
    if args.strict and not args.doc:
        raise ConfigError("--strict applies to --doc only")
    catalog = load_catalog(args.catalog)
    if args.doc:
        return run_doc(catalog, args)
    tests = with_derived_tests(catalog, tests_by_rule(args.suites))
    if args.rules:
        found = cards(catalog, args.rules, tests)
        if args.json:
            _emit(json.dumps([c.to_json() for c in found], indent=2, ensure_ascii=False))
        else:
            _emit("\n\n".join(render(c) for c in found))
        return 0
    rules = select(catalog, args.profile, args.level)
    info = summary(rules, tests)
    unknown = sorted(set(tests) - set(catalog.ids()))
    if args.json:
        document = {
            "catalog": str(catalog.path),
            "suites": str(args.suites) if args.suites.is_dir() else None,
            "rules": [_rule_json(r, tests.get(r.id, [])) for r in rules],
            "summary": {**info, "unknown_rule_ids_in_tests": unknown},
            # The words a reader of the rules meets, with their meaning, so the JSON stands on its own.
            "vocabulary": {
                "levels": dict(schema.LEVELS),
                "profiles": dict(schema.PROFILES),
                "outcomes": dict(schema.OUTCOMES),
            },
        }
        _emit(json.dumps(document, indent=2))
        return 0
    rows = [["ID", "LEVEL", "PROFILES", "CHARTS", "TESTS"]]
    rows += [
        [r.id, r.level, ",".join(r.profiles), _compact_cases(r.charts), _compact_tests(tests.get(r.id, []))]
        for r in rules
    ]
    lines = [_table(rows), "", summary_line(info)]
    if not args.suites.is_dir():
        lines.append(f"(no suites folder at {args.suites} yet: every rule shows '-')")
    if unknown:
        lines.append(f"tests name rules missing from the catalog: {', '.join(unknown)}")
    _emit("\n".join(lines))
    return 0


def _mapping(row: Row, width: int = 70) -> str:
    entry = row.entry
    if entry.untestable is not None:
        return f"untestable: {shorten(entry.untestable, width)}"
    missing = f"MISSING: {shorten(entry.missing, width)}" if entry.missing is not None else ""
    return "; ".join(part for part in (", ".join(entry.rules), missing) if part)


def _row_json(row: Row) -> dict[str, Any]:
    unit, entry = row.unit, row.entry
    return {
        "anchor": unit.anchor,
        "section": unit.section,
        "kind": unit.kind,
        "line": unit.line,
        "text": unit.text,
        "quote": entry.quote,
        "status": entry.status,
        "rules": list(entry.rules),
        "untestable": entry.untestable,
        "missing": entry.missing,
        "planned_rules": list(planned_rules(entry.missing)),
    }


def run_doc(catalog: Catalog, args: argparse.Namespace) -> int:
    """`list --doc`: the page's units with their rules or reasons, the coverage, then the gaps in full."""
    trace: DocTrace = load_doc_trace(catalog)
    coverage = trace.coverage()
    landed = gaps_now_in_catalog(trace, catalog)
    if args.json:
        document = {
            "page": str(trace.page),
            "trace": str(trace.path),
            "catalog": str(catalog.path),
            "units": [_row_json(row) for row in trace.rows],
            "coverage": coverage._asdict(),
            "gaps_with_rules_in_catalog": [{"anchor": a, "rule": r} for a, r in landed],
        }
        _emit(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        rows = [["ANCHOR", "LINE", "KIND", "TEXT", "RULES OR REASON"]]
        rows += [[r.unit.anchor, str(r.unit.line), r.unit.kind, shorten(r.unit.text, 50), _mapping(r)]
                 for r in trace.rows]
        lines = [_table(rows), "", coverage.line()]
        gaps = trace.gaps()
        if gaps:
            lines += ["", "Gaps (what a rule would assert):"]
            lines += [f"  {r.unit.anchor} (line {r.unit.line}): {r.entry.missing}" for r in gaps]
        if landed:
            # The planned rule exists now: someone should re-read the unit and move the id under `rules`.
            lines.append("gaps whose planned rule is in the catalog now: " + ", ".join(f"{a} {r}" for a, r in landed))
        _emit("\n".join(lines))
    return 1 if args.strict and trace.gaps() else 0


def _emit(text: str) -> None:
    # `nvcf-conformance list | head` closes the pipe early; that is a normal way to read a listing.
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
