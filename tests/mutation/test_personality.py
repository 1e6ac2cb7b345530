"""The personality verdict table: every rule has an entry, a FAIL is explained by a recorded divergence,
and a run is compared with it rule by rule (a difference either way is reported)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conformance.catalog.load import load_catalog
from conformance.errors import ConfigError
from conformance.mutation.personality import (
    PERSONALITY,
    Expected,
    PersonalityRun,
    load_expected,
    statuses,
)
from conformance.report.model import TestResult as Result

CATALOG = load_catalog()


def write(folder: Path, verdicts: dict[str, str]) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "p.yaml").write_text(yaml.safe_dump({"args": ["--preset", "x"], "profiles": ["ext"],
                                                   "verdicts": verdicts}))
    return folder


def all_pass() -> dict[str, str]:
    return dict.fromkeys(CATALOG.ids(), "PASS")


def test_the_shipped_table_loads_and_covers_every_rule() -> None:
    expected = load_expected(PERSONALITY, CATALOG)
    assert set(expected.verdicts) == set(CATALOG.ids())
    assert expected.args[:2] == ("--preset", PERSONALITY)
    failing = [rule for rule, verdict in expected.verdicts.items() if verdict == "FAIL"]
    assert failing and all(CATALOG[rule].divergence for rule in failing)


@pytest.mark.parametrize(("change", "words"), [
    ({"NOT-A-RULE": "PASS"}, "not a catalog rule"),
    ({"FN-CREATE-HELM": "FAIL"}, "records no divergence"),
    ({"KIND-FORBIDDEN": "MAYBE"}, "'MAYBE' is not one of"),
])
def test_a_bad_table_is_refused_naming_the_rule(tmp_path: Path, change: dict[str, str], words: str) -> None:
    folder = write(tmp_path / "t", {**all_pass(), **change})
    with pytest.raises(ConfigError, match=words):
        load_expected("p", CATALOG, folder)


def test_a_table_without_every_rule_is_refused(tmp_path: Path) -> None:
    verdicts = all_pass()
    verdicts.pop("FN-CREATE-HELM")
    with pytest.raises(ConfigError, match="no entry for FN-CREATE-HELM"):
        load_expected("p", CATALOG, write(tmp_path / "t", verdicts))


def result(rule: str, status: str, message: str = "") -> Result:
    return Result(nodeid=f"suites/x.py::{rule}-{status}", rule_id=rule, level="MUST", profiles=("core",),
                      status=status, message=message)  # type: ignore[arg-type]


def test_differences_either_way_are_reported() -> None:
    expected = Expected("p", (), (), {"A-RULE": "PASS", "B-RULE": "FAIL", "C-RULE": "PASS"})
    seen, messages = statuses([result("A-RULE", "PASS"), result("A-RULE", "FAIL", "refused a valid chart"),
                               result("B-RULE", "PASS"), result("C-RULE", "PASS"), result("D-RULE", "PASS")])
    run = PersonalityRun(expected, seen, messages)
    assert not run.ok
    assert run.differences == [
        "A-RULE: expected PASS, got FAIL: refused a valid chart",  # a false FAIL
        "B-RULE: expected FAIL, got PASS",  # a false PASS
        "D-RULE: PASS, but the table has no entry for it",
    ]
