"""Doc traceability: every unit of the spec page maps to the rules that test it, or says why none does.

The page (`doc/helm-based-functions.txt`, verbatim) is split into units: each heading, admonition label,
sentence of prose, sentence of a bullet or numbered step, and each code example as a whole. A unit's
anchor is `<section>:<digest>`, the digest being that of its whitespace-normalised text, so any edit of
a sentence gives it a new anchor: its old entry in `doc-trace.yaml` becomes stale and the new sentence
unmapped, and both are reported instead of the old mapping silently vouching for new words.

Each entry of `doc-trace.yaml` names one unit (`anchor`), quotes it (`quote`, any part of its text, so
a reader sees which sentence is meant) and says one of:
    rules: [IDS]            the catalog rules whose tests assert what the unit says
    rules + missing: TEXT   those rules cover part of it; TEXT is what a rule would assert for the rest
    rules + as_written: TEXT  the rules exercise the unit's example, with TEXT saying which value a local
                            target cannot take as the page writes it and what stands in for it
    untestable: REASON      nothing an implementation does could be observed for it
    rules + untestable: R   the rules test what can be observed; R says why the rest of the unit cannot be
    missing: TEXT           testable, but no rule asserts it yet: TEXT is what a rule would assert
A gap may start with the ids of the rules planned for it (`ID[, ID]: TEXT`); once they are in the catalog
`list --doc` says so, without failing, so that adding a rule never breaks the catalog tests.
Problems are reported as one line, like the catalog loader's: `<file>: entries[<i>] (<anchor>): ...`.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import yaml

from conformance.catalog.load import Catalog, _yaml_problem  # the loader's wording for YAML errors
from conformance.errors import ConfigError

HERE = Path(__file__).resolve().parent
DEFAULT_PAGE = HERE / "doc" / "helm-based-functions.txt"
DEFAULT_TRACE = HERE / "doc-trace.yaml"

Kind = Literal["heading", "label", "sentence", "bullet", "step", "code"]
Status = Literal["tested", "partial", "untestable", "missing"]

# Sphinx admonition titles: a line of its own that introduces the next block, not a section.
ADMONITIONS = frozenset({"Attention", "Caution", "Danger", "Error", "Hint", "Important", "Note", "Tip", "Warning"})

# A sentence ends at . ! or ? followed by a space and what starts a sentence; `X.Y.Z.tgz` or
# `<CSP>.GPU.<GPU>` have no space after their dots, so they stay whole.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"“(])")
_STEP = re.compile(r"^\s+\d+\.\s+")
_ENTRY_FIELDS = ("anchor", "quote", "rules", "untestable", "missing", "as_written")
_RULE_ID = r"[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+"
_PLANNED = re.compile(rf"^({_RULE_ID}(?:,\s*{_RULE_ID})*):\s")


@dataclass(frozen=True)
class Unit:
    """One traceable piece of the page."""

    anchor: str
    section: str
    kind: Kind
    line: int  # 1-based line of the page where the unit starts
    text: str


@dataclass(frozen=True)
class Entry:
    """One mapping of `doc-trace.yaml`."""

    index: int
    anchor: str
    quote: str
    rules: tuple[str, ...] = ()
    untestable: str | None = None
    missing: str | None = None
    as_written: str | None = None  # what of the page's example a local target takes otherwise, and why

    @property
    def status(self) -> Status:
        if self.untestable is not None and not self.rules:
            return "untestable"
        if self.rules:
            return "partial" if self.missing is not None else "tested"
        return "missing"


class Coverage(NamedTuple):
    units: int
    tested: int  # mapped to rules, `partial` included
    partial: int  # mapped to rules that cover only part of the unit
    untestable: int
    missing: int  # mapped to no rule: the gaps

    def line(self) -> str:
        return (
            f"{self.units} units: {self.tested} tested ({self.partial} of them in part), "
            f"{self.untestable} untestable, {self.missing} missing"
        )


@dataclass(frozen=True)
class Row:
    unit: Unit
    entry: Entry


@dataclass(frozen=True)
class DocTrace:
    page: Path
    path: Path
    rows: tuple[Row, ...]  # in page order

    def coverage(self) -> Coverage:
        counts = Counter(row.entry.status for row in self.rows)
        return Coverage(
            units=len(self.rows),
            tested=counts["tested"] + counts["partial"],
            partial=counts["partial"],
            untestable=counts["untestable"],
            missing=counts["missing"],
        )

    def gaps(self) -> tuple[Row, ...]:
        """Units with something no rule asserts yet (wholly or in part)."""
        return tuple(row for row in self.rows if row.entry.missing is not None)


# ── Splitting the page ──────────────────────────────────────────────────────────────────────────


def normalise(text: str) -> str:
    """Whitespace-insensitive form: re-wrapping or re-indenting the page changes no anchor or quote match."""
    return " ".join(text.split())


def _slug(heading: str) -> str:
    # "3. Security Constraints" -> "security-constraints": the numbering is presentation, not the name.
    words = re.sub(r"^\d+\.\s*", "", heading).lower()
    return re.sub(r"[^a-z0-9]+", "-", words).strip("-") or "section"


def _code_line(line: str, expected: int) -> str | None:
    """The code of a line of an exported code block (`' 7    "name": …'`), or None.

    Code lines carry a gutter with their line number, counting from 1; requiring the next number keeps
    a numbered step (`  1. Ensure …`) or a numbered heading from being taken for code."""
    match = re.match(rf"^\s*{expected}(?!\d|\.\s)", line)
    return line[match.end() :] if match else None


def _classify(line: str) -> tuple[Kind, str]:
    """The kind of one non-blank, non-code line and its text without markers."""
    stripped = line.strip()
    if stripped.endswith("#"):  # the page's permalink mark: every real section heading has one
        return "heading", stripped.removesuffix("#").strip()
    if stripped.startswith("• "):
        return "bullet", stripped[2:].strip()
    if step := _STEP.match(line):
        return "step", line[step.end() :].strip()
    if stripped in ADMONITIONS:
        return "label", stripped
    if not stripped.endswith((".", ":", "!", "?", ")")) and len(stripped.split()) <= 6:
        return "heading", stripped  # a rubric: "Restrictions", "Example Creation via API"
    return "sentence", stripped


def _pieces(text: str) -> Iterator[tuple[str, Kind, int, str]]:
    """(section, kind, line, text) for every unit, in page order, before anchoring."""
    section = "top"
    code: list[str] = []
    code_start = 0
    for number, line in enumerate(text.splitlines(), 1):
        code_text = _code_line(line, len(code) + 1)
        if code_text is None and code:
            yield section, "code", code_start, "\n".join(code)
            code = []
            code_text = _code_line(line, 1)  # a second block may follow without a blank line
        if code_text is not None:
            code_start = code_start if code else number
            code.append(code_text)
            continue
        if not line.strip():
            continue
        kind, body = _classify(line)
        if kind == "heading":
            section = _slug(body)
        if kind in ("heading", "label"):
            yield section, kind, number, body
            continue
        for sentence in _SENTENCE_END.split(body):
            yield section, kind, number, sentence
    if code:
        yield section, "code", code_start, "\n".join(code)


def _digest(text: str) -> str:
    # A short content digest, not a security measure (so FIPS builds of Python allow it too).
    return hashlib.sha1(normalise(text).encode("utf-8"), usedforsecurity=False).hexdigest()[:6]


def split_page(text: str) -> tuple[Unit, ...]:
    """The page's units with their anchors; the same text twice in one section gets `-2`, `-3`, …"""
    seen: Counter[str] = Counter()
    units = []
    for section, kind, line, body in _pieces(text):
        anchor = f"{section}:{_digest(body)}"
        seen[anchor] += 1
        if seen[anchor] > 1:
            anchor = f"{anchor}-{seen[anchor]}"
        units.append(Unit(anchor=anchor, section=section, kind=kind, line=line, text=body))
    return tuple(units)


def shorten(text: str, width: int = 60) -> str:
    flat = normalise(text)
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"


# ── Reading and checking doc-trace.yaml ───────────────────────────────────────────────────────


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None


def _entry_problem(raw: dict[str, Any]) -> tuple[str, str] | None:
    """The first shape problem of one raw entry, as (field, problem)."""
    extra = sorted(str(k) for k in raw if k not in _ENTRY_FIELDS)
    if extra:
        return extra[0], f"is not a known field (known: {', '.join(_ENTRY_FIELDS)})"
    for name in ("anchor", "quote"):
        if not isinstance(raw.get(name), str) or not raw[name].strip():
            return name, "is missing or empty (required)"
    if "as_written" in raw and "rules" not in raw:
        return "as_written", "says how rules exercise the example: it needs rules"
    for name in ("untestable", "missing", "as_written"):
        value = raw.get(name)
        if value is not None and (not isinstance(value, str) or not value.strip() or "\n" in value.strip()):
            return name, "must be one line of text"
    rules = raw.get("rules")
    if rules is not None and (
        not isinstance(rules, list) or not rules or not all(isinstance(r, str) for r in rules)
    ):
        return "rules", "must be a non-empty list of rule ids"
    if rules is not None and len(set(rules)) != len(rules):
        return "rules", "lists a rule twice"
    if "untestable" in raw and "missing" in raw:
        return "untestable", "excludes missing: what is not tested is either testable (missing) or not"
    if not {"rules", "untestable", "missing"} & set(raw):
        return "rules", "is missing: give rules, untestable or missing"
    return None


def _entries(path: Path, data: Any) -> tuple[Entry, ...]:
    if not isinstance(data, dict) or data.get("version") != 1 or not isinstance(data.get("entries"), list):
        raise ConfigError(f"{path}: top level: must be a mapping with 'version: 1' and a list 'entries'")
    entries = []
    for index, item in enumerate(data["entries"]):
        if not isinstance(item, dict):
            raise ConfigError(f"{path}: entries[{index}]: must be a mapping (anchor, quote, rules|untestable|missing)")
        # `missing:` with nothing after it is YAML null: the same as leaving the field out.
        raw = {key: value for key, value in item.items() if value is not None}
        problem = _entry_problem(raw)
        if problem is not None:
            anchor = raw.get("anchor")
            where = f"entries[{index}] ({anchor})" if isinstance(anchor, str) else f"entries[{index}]"
            raise ConfigError(f"{path}: {where}: field '{problem[0]}': {problem[1]}")
        entries.append(
            Entry(
                index=index,
                anchor=raw["anchor"].strip(),
                quote=raw["quote"],
                rules=tuple(raw.get("rules") or ()),
                untestable=raw.get("untestable"),
                missing=raw.get("missing"),
                as_written=raw.get("as_written"),
            )
        )
    return tuple(entries)


def _where_now(units: tuple[Unit, ...], quote: str) -> str:
    # A stale anchor with a quote still on the page means the sentence was edited: point at its new anchor.
    found = [u for u in units if normalise(quote) in normalise(u.text)]
    if not found:
        return "its quote is found nowhere on the page either"
    return "its quote is now in " + ", ".join(f"unit {u.anchor} (line {u.line})" for u in found[:3])


def _match(path: Path, page: Path, units: tuple[Unit, ...], entries: tuple[Entry, ...], catalog: Catalog) -> None:
    by_anchor = {u.anchor: u for u in units}
    mapped: dict[str, int] = {}
    for entry in entries:
        where = f"{path}: entries[{entry.index}] ({entry.anchor})"
        unit = by_anchor.get(entry.anchor)
        if unit is None:
            raise ConfigError(
                f"{where}: field 'anchor': stale, no unit of {page.name} has this anchor (the page changed?); "
                f"{_where_now(units, entry.quote)}"
            )
        if normalise(entry.quote) not in normalise(unit.text):
            text = shorten(unit.text)
            raise ConfigError(f"{where}: field 'quote': is not in the unit's text (line {unit.line}): “{text}”")
        if entry.anchor in mapped:
            first = mapped[entry.anchor]
            raise ConfigError(f"{where}: field 'anchor': maps the unit a second time (first in entries[{first}])")
        unknown = [r for r in entry.rules if r not in catalog]
        if unknown:
            raise ConfigError(f"{where}: field 'rules': rule '{unknown[0]}' is not in the catalog {catalog.path}")
        mapped[entry.anchor] = entry.index
    for unit in units:
        if unit.anchor not in mapped:
            raise ConfigError(
                f"{path}: unit {unit.anchor} of {page.name} (line {unit.line}, {unit.kind} “{shorten(unit.text)}”) "
                f"is not mapped: add an entry with anchor: {unit.anchor}"
            )


def load_doc_trace(catalog: Catalog, path: str | Path | None = None, page: str | Path | None = None) -> DocTrace:
    """Split the page, load the trace at `path` and check it against both the page and `catalog`."""
    path = Path(path) if path is not None else DEFAULT_TRACE
    page = Path(page) if page is not None else DEFAULT_PAGE
    units = split_page(_read(page, "the spec page"))
    try:
        data = yaml.safe_load(_read(path, "the doc trace"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: {_yaml_problem(exc)}") from None
    entries = _entries(path, data)
    _match(path, page, units, entries, catalog)
    by_anchor = {e.anchor: e for e in entries}
    return DocTrace(page=page, path=path, rows=tuple(Row(u, by_anchor[u.anchor]) for u in units))


def planned_rules(missing: str | None) -> tuple[str, ...]:
    """The rule ids a gap names as the ones that will cover it: `ID[, ID]: what they assert`."""
    match = _PLANNED.match(missing or "")
    return tuple(re.split(r",\s*", match.group(1))) if match else ()


def gaps_now_in_catalog(trace: DocTrace, catalog: Catalog) -> list[tuple[str, str]]:
    """(anchor, rule id) for every gap whose planned rule the catalog has by now.

    Not an error: a rule lands in the catalog before someone re-reads the page for it, and failing
    the catalog tests at that moment would block the rule's author; the listing shows it instead."""
    return [
        (row.unit.anchor, rule_id)
        for row in trace.gaps()
        for rule_id in planned_rules(row.entry.missing)
        if rule_id in catalog and rule_id not in row.entry.rules
    ]
