"""`nvcf-conformance list RULE`: a rule's card leads to its test, its charts and its mutant's code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conformance.catalog import load_catalog, scan
from conformance.catalog.card import cards, mutant_sites
from conformance.catalog.cli import DEFAULT_SUITES, with_derived_tests
from conformance.cli import main
from conformance.paths import ROOT


@pytest.fixture(scope="module")
def every_card() -> list:
    catalog = load_catalog()
    tests = with_derived_tests(catalog, scan.tests_by_rule(DEFAULT_SUITES))
    return cards(catalog, [r.id for r in catalog], tests)


def test_a_card_names_the_test_the_chart_and_the_mutant(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "grpc-invocation"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("GRPC-INVOCATION  MUST  [grpc]")
    assert "suites/test_grpc.py::test_grpc_invocation" in out
    assert "grpc → sample-charts/cases/grpc.yaml" in out
    assert "nvcf-reference serve --violate GRPC-INVOCATION" in out
    site = re.search(r"- (reference/\S+\.py):(\d+)", out)
    assert site is not None
    line = (ROOT / site[1]).read_text().splitlines()[int(site[2]) - 1]
    assert "rules.GRPC_INVOCATION" in line
    assert "personality: nvcf-oss-shipped → PASS" in out


def test_a_card_pairs_each_case_with_its_param_and_twin(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "KIND-FORBIDDEN", "--json"]) == 0
    [card] = json.loads(capsys.readouterr().out)
    pairs = {(v["case"], v["param"]) for v in card["variants"]}
    assert ("kind-forbidden-daemonset", "DaemonSet") in pairs
    assert all(v["twin"] == v["case"] + "-twin" for v in card["variants"])
    assert card["divergence"] and card["mutant"]["violate"] == ["KIND-FORBIDDEN"]


def test_a_rule_without_a_mutant_says_why(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "CHART-REF-DOCUMENTED-FORM"]) == 0
    assert "mutant:      no mutant: every deploying test" in capsys.readouterr().out


def test_an_unknown_rule_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "NO-SUCH-RULE"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == ("nvcf-conformance: error: not in the catalog: NO-SUCH-RULE "
                           "(`nvcf-conformance list` shows every id)")


def test_every_card_is_complete(every_card: list) -> None:
    """What a newcomer follows from a card exists: tests, overlay files, and reference code for each mutant."""
    for card in every_card:
        assert card.tests, card.id
        for variant in card.variants:
            assert (ROOT / variant.overlay).is_file(), (card.id, variant.overlay)
        if card.mutant.violate and card.level in ("MUST", "EXT"):
            assert card.mutant.sites, f"{card.id}: no reference code uses the id its mutant breaks"
        if not card.mutant.violate:
            assert card.mutant.why_none, card.id


def test_sites_come_from_the_reference_source_only(tmp_path: Path) -> None:
    (tmp_path / "rules.py").write_text('A = "RULE-A"\nTABLE = {"RULE-B": "RULE-C"}\nlower = "not-an-id"\n')
    (tmp_path / "x.py").write_text("from reference import rules\n\nif rules.A:\n    rules.TABLE\n")
    assert mutant_sites(tmp_path) == {"RULE-A": [f"{tmp_path.name}/x.py:3"], "RULE-B": [f"{tmp_path.name}/x.py:4"],
                                      "RULE-C": [f"{tmp_path.name}/x.py:4"]}
