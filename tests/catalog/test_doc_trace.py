"""Doc traceability: every unit of the spec page is mapped once, to existing rules or to a reason."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.catalog import Catalog, load_catalog
from conformance.catalog.doctrace import (
    DEFAULT_PAGE,
    DEFAULT_TRACE,
    Unit,
    load_doc_trace,
    normalise,
    planned_rules,
    split_page,
)
from conformance.cli import main
from conformance.errors import ConfigError
from conformance.paths import ROOT

PAGE = DEFAULT_PAGE.read_text(encoding="utf-8")
TRACE: dict[str, Any] = yaml.safe_load(DEFAULT_TRACE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _unit(units: tuple[Unit, ...], fragment: str) -> Unit:
    found = [u for u in units if fragment in u.text]
    assert len(found) == 1, (fragment, [u.anchor for u in found])
    return found[0]


def _error(catalog: Catalog, trace: Path, page: Path = DEFAULT_PAGE) -> str:
    with pytest.raises(ConfigError) as info:
        load_doc_trace(catalog, trace, page)
    message = str(info.value)
    assert "\n" not in message, message
    return message


def _write_trace(tmp_path: Path, mutate: Callable[[dict[str, Any]], None] | None = None) -> Path:
    doc = copy.deepcopy(TRACE)
    if mutate is not None:
        mutate(doc)
    path = tmp_path / "doc-trace.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def _entry(doc: dict[str, Any], fragment: str) -> dict[str, Any]:
    found = [e for e in doc["entries"] if fragment in e["quote"]]
    assert len(found) == 1, fragment
    return found[0]


# ── The shipped page and matrix ───────────────────────────────────────────────────────────────


def test_shipped_trace_maps_every_unit_once(catalog: Catalog) -> None:
    trace = load_doc_trace(catalog)
    units = split_page(PAGE)
    assert [row.unit for row in trace.rows] == list(units)
    assert len(TRACE["entries"]) == len(units)  # one entry per unit: none left over, none twice
    coverage = trace.coverage()
    assert coverage.units == len(units) == coverage.tested + coverage.untestable + coverage.missing
    # A page of this size splits into about a hundred units; far fewer means the splitter merged them.
    assert 80 <= coverage.units <= 130


def test_every_gap_says_what_a_rule_would_assert(catalog: Catalog) -> None:
    for row in load_doc_trace(catalog).gaps():
        assert len(normalise(row.entry.missing or "")) >= 30, row.unit.anchor


def test_page_copy_is_the_shared_page_verbatim() -> None:
    # The project carries its own copy (no run-time dependency); next to the shared docs it must match.
    shared = ROOT.parent / "shared" / "docs" / "helm-based-functions.txt"
    if not shared.is_file():
        pytest.skip(f"no shared docs at {shared}")
    assert DEFAULT_PAGE.read_bytes() == shared.read_bytes(), f"{DEFAULT_PAGE} differs from {shared}: copy it over"


# ── Splitting ───────────────────────────────────────────────────────────────────────────────────


def test_examples_and_notes_are_one_unit_each() -> None:
    units = split_page(PAGE)
    create = _unit(units, '"apiBodyFormat": "CUSTOM"')
    assert create.kind == "code" and create.text.startswith("curl -s -X POST") and create.text.endswith("}'")
    assert '    "inferencePort": 8001,' in create.text.splitlines()  # the line-number gutter is gone
    deploy = _unit(units, '"key_two": { "key_two_subkey_one"')
    assert deploy.kind == "code" and "/v2/nvcf/deployments/functions/" in deploy.text and deploy.text.endswith("}'")
    assert _unit(units, 'set "inferenceURL" : "/gRPC"').kind == "sentence"
    assert _unit(units, "DGXC.GPU.L40S_1x").text.startswith("For example, DGXC.GPU.L40S_1x is a single L40S")
    warning = _unit(units, "v1 is ok but v1-test")
    assert warning.text.startswith("Ensure that your helm charts version") and warning.section == "prerequisites"


def test_kinds_and_sections() -> None:
    units = split_page(PAGE)
    assert [u.text for u in units if u.kind == "label"] == ["Warning", "Attention", "Note", "Note"]
    headings = {u.text for u in units if u.kind == "heading"}
    assert {"Prerequisites", "3. Security Constraints", "Restrictions", "Example Creation via API"} <= headings
    assert _unit(units, "Ensure you have pushed").kind == "step"  # a step "1." is not a code line 1
    assert _unit(units, "3. Security").section == "security-constraints"
    # A bullet of several sentences gives one unit per sentence.
    url = _unit(units, "The helm chart URL should follow the format")
    assert url.kind == "bullet" and url.text.endswith("$NAME-X.Y.Z.tgz.")
    assert _unit(units, "The chart name should not contain - in the version string.").line == url.line
    assert len({u.anchor for u in units}) == len(units)


def test_an_edit_changes_only_the_edited_units_anchor() -> None:
    before = split_page(PAGE)
    after = split_page(PAGE.replace("No other configuration is needed.", "No other configuration is ever needed."))
    changed = [(a.anchor, b.anchor) for a, b in zip(before, after, strict=True) if a.anchor != b.anchor]
    assert len(changed) == 1 and changed[0][0].startswith("pull-secret-management:")


def test_planned_rules_are_read_from_the_front_of_a_gap() -> None:
    assert planned_rules("DOC-EXAMPLE-A, DOC-EXAMPLE-B: the body is accepted") == ("DOC-EXAMPLE-A", "DOC-EXAMPLE-B")
    assert planned_rules("a pod with an `Unconfined` AppArmor profile, like FOO-BAR says") == ()


# ── Checks: one line naming the problem ───────────────────────────────────────────────────────


def test_an_unmapped_sentence_is_named(catalog: Catalog, tmp_path: Path) -> None:
    page = tmp_path / "page.txt"
    page.write_text(PAGE.replace("No other configuration is needed.",
                                 "No other configuration is needed. Pull secrets rotate daily."), encoding="utf-8")
    new = _unit(split_page(page.read_text(encoding="utf-8")), "Pull secrets rotate daily.")
    trace = _write_trace(tmp_path)
    message = _error(catalog, trace, page)
    assert message.startswith(f"{trace}: unit {new.anchor} of page.txt (line 23, sentence “Pull secrets rotate daily")
    assert message.endswith(f"is not mapped: add an entry with anchor: {new.anchor}")


def test_a_stale_entry_after_an_edit_is_named(catalog: Catalog, tmp_path: Path) -> None:
    old = _unit(split_page(PAGE), "Ensure you have pushed")
    page = tmp_path / "page.txt"
    page.write_text(PAGE.replace("to your OCI container registry.", "to an OCI registry."), encoding="utf-8")
    trace = _write_trace(tmp_path)
    index = next(i for i, e in enumerate(TRACE["entries"]) if e["anchor"] == old.anchor)
    message = _error(catalog, trace, page)
    assert message.startswith(f"{trace}: entries[{index}] ({old.anchor}): field 'anchor': stale")
    assert message.endswith("its quote is found nowhere on the page either")


def test_a_stale_entry_points_at_where_its_quote_went(catalog: Catalog, tmp_path: Path) -> None:
    page = tmp_path / "page.txt"
    page.write_text(PAGE.replace("v1-test will cause issues.", "v1-test will fail."), encoding="utf-8")
    new = _unit(split_page(page.read_text(encoding="utf-8")), "v1-test will fail.")

    def quote_start(doc: dict[str, Any]) -> None:
        _entry(doc, "v1 is ok")["quote"] = "For example v1 is ok"

    message = _error(catalog, _write_trace(tmp_path, quote_start), page)
    assert "field 'anchor': stale" in message and message.endswith(f"its quote is now in unit {new.anchor} (line 9)")


def test_a_quote_that_is_not_in_its_unit_is_named(catalog: Catalog, tmp_path: Path) -> None:
    def wrong_quote(doc: dict[str, Any]) -> None:
        _entry(doc, "No other configuration")["quote"] = "No configuration at all"

    message = _error(catalog, _write_trace(tmp_path, wrong_quote))
    assert "field 'quote': is not in the unit's text (line 23): “No other configuration is needed.”" in message


def test_an_unknown_rule_id_is_named(catalog: Catalog, tmp_path: Path) -> None:
    def unknown(doc: dict[str, Any]) -> None:
        _entry(doc, "No other configuration")["rules"] = ["PULL-SECRETS-PRIVATE-IMAGE", "PULL-SECRETS-NOWHERE"]

    message = _error(catalog, _write_trace(tmp_path, unknown))
    assert message.endswith(f"field 'rules': rule 'PULL-SECRETS-NOWHERE' is not in the catalog {catalog.path}")


def test_a_unit_mapped_twice_is_named(catalog: Catalog, tmp_path: Path) -> None:
    def twice(doc: dict[str, Any]) -> None:
        doc["entries"].append(dict(_entry(doc, "No other configuration")))

    message = _error(catalog, _write_trace(tmp_path, twice))
    assert f"entries[{len(TRACE['entries'])}]" in message
    assert "maps the unit a second time (first in entries[" in message


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"rules": None, "untestable": None, "missing": None}, "field 'rules': is missing: give rules, untestable"),
        ({"untestable": "a heading", "missing": "x"}, "field 'untestable': excludes missing"),
        ({"rules": None, "as_written": "x"}, "field 'as_written': says how rules exercise the example"),
        ({"rules": []}, "field 'rules': must be a non-empty list of rule ids"),
        ({"quote": " "}, "field 'quote': is missing or empty (required)"),
        ({"because": "x"}, "field 'because': is not a known field"),
    ],
)
def test_malformed_entries_are_named(catalog: Catalog, tmp_path: Path, change: dict[str, Any], problem: str) -> None:
    def mutate(doc: dict[str, Any]) -> None:
        entry = _entry(doc, "No other configuration")
        entry.update(change)
        for key in [k for k, v in entry.items() if v is None]:
            del entry[key]

    message = _error(catalog, _write_trace(tmp_path, mutate))
    assert "(pull-secret-management:" in message and problem in message, message


def test_an_empty_field_counts_as_absent(catalog: Catalog, tmp_path: Path) -> None:
    def only_null(doc: dict[str, Any]) -> None:
        entry = _entry(doc, "No other configuration")
        del entry["rules"]
        entry["missing"] = None  # `missing:` written with nothing after it

    assert "field 'rules': is missing: give rules, untestable" in _error(catalog, _write_trace(tmp_path, only_null))


def test_missing_files_and_bad_yaml_are_one_line(catalog: Catalog, tmp_path: Path) -> None:
    assert _error(catalog, tmp_path / "none.yaml").endswith("none.yaml: the doc trace does not exist")
    assert _error(catalog, DEFAULT_TRACE, tmp_path / "none.txt").endswith("none.txt: the spec page does not exist")
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nentries: [\n", encoding="utf-8")
    assert "invalid YAML at line" in _error(catalog, bad)


# ── `nvcf-conformance list --doc` ─────────────────────────────────────────────────────────────


def test_cli_prints_the_matrix_and_coverage(catalog: Catalog, capsys: pytest.CaptureFixture[str]) -> None:
    trace = load_doc_trace(catalog)
    assert main(["list", "--doc"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["ANCHOR", "LINE", "KIND", "TEXT", "RULES", "OR", "REASON"]
    assert [line.split()[0] for line in lines[1 : len(trace.rows) + 1]] == [r.unit.anchor for r in trace.rows]
    coverage = trace.coverage()
    assert coverage.line() in lines
    assert f"{coverage.units} units: {coverage.tested} tested (" in out
    for row in trace.gaps():
        assert f"  {row.unit.anchor} (line {row.unit.line}): {row.entry.missing}" in lines


def test_cli_json_and_strict(catalog: Catalog, capsys: pytest.CaptureFixture[str]) -> None:
    trace = load_doc_trace(catalog)
    assert main(["list", "--doc", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["coverage"] == trace.coverage()._asdict()
    assert [u["anchor"] for u in document["units"]] == [r.unit.anchor for r in trace.rows]
    assert {u["status"] for u in document["units"]} <= {"tested", "partial", "untestable", "missing"}
    assert main(["list", "--doc", "--strict"]) == (1 if trace.gaps() else 0)
    capsys.readouterr()
    assert main(["list", "--strict"]) == 2
    assert "--strict applies to --doc only" in capsys.readouterr().err
