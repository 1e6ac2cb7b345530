"""A malformed catalog is refused with one line that names the file, the rule and the field."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.catalog.load import load_catalog
from conformance.errors import ConfigError

GOOD_RULE: dict[str, Any] = {
    "id": "KIND-EXAMPLE",
    "level": "MUST",
    "profiles": ["core"],
    "doc": "helm-based-functions#restrictions",
    "statement": "A chart with an example object deploys.",
    "outcomes": ["deployed-conformant"],
    "charts": ["minimal-http"],
}

Mutation = Callable[[dict[str, Any]], None]


def _second(**changes: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        doc["rules"][1].update(changes)

    return mutate


def _drop(field: str) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        del doc["rules"][1][field]

    return mutate


def _write(tmp_path: Path, mutate: Mutation | None = None, raw: str | None = None) -> Path:
    doc = {"version": 1, "rules": [copy.deepcopy(GOOD_RULE), {**copy.deepcopy(GOOD_RULE), "id": "KIND-OTHER"}]}
    if mutate is not None:
        mutate(doc)
    path = tmp_path / "rules.yaml"
    path.write_text(raw if raw is not None else yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_catalog(path)
    message = str(info.value)
    assert "\n" not in message, message
    assert message.startswith(f"{path}: "), message
    return message


def test_the_fixture_itself_loads(tmp_path: Path) -> None:
    assert load_catalog(_write(tmp_path)).ids() == ("KIND-EXAMPLE", "KIND-OTHER")


@pytest.mark.parametrize(
    ("mutate", "field", "words"),
    [
        pytest.param(_drop("statement"), "statement", "missing", id="missing-field"),
        pytest.param(_drop("outcomes"), "outcomes", "missing", id="missing-outcomes"),
        pytest.param(_second(level="MAY"), "level", "'MAY'", id="bad-level"),
        pytest.param(_second(id="KIND-EXAMPLE"), "id", "duplicate of rules[0]", id="duplicate-id"),
        pytest.param(_second(outcomes=["deployed-conformant", "passes"]), "outcomes", "'passes'", id="bad-outcome"),
        pytest.param(_second(profiles=["core", "gold"]), "profiles", "'gold'", id="bad-profile"),
        pytest.param(_second(id="kind_other"), "id", "does not match", id="bad-id-pattern"),
        pytest.param(_second(colour="red"), "colour", "not a known field", id="unknown-field"),
        pytest.param(_second(level="EXT"), "profiles", "'ext'", id="ext-without-ext-profile"),
        pytest.param(_second(profiles=["core", "ext"]), "profiles", "only EXT", id="ext-profile-on-must"),
        pytest.param(_second(charts=[]), "charts", "empty", id="no-charts"),
        pytest.param(_second(charts=["minimal-http", "grpc"]), "params", "one param per chart", id="unpaired"),
        pytest.param(_second(doc="helm-based-functions#nowhere"), "doc", "unknown section", id="bad-section"),
        pytest.param(_second(doc="nvcf-implementation-notes#6.1"), "doc", "cites the documentation", id="must-ext-doc"),
        pytest.param(_second(doc="a blog post"), "doc", "does not match", id="bad-doc"),
        pytest.param(
            _second(statement="A first line that is long enough\nand a second line."),
            "statement",
            "single line",
            id="multi-line-statement",
        ),
        pytest.param(_second(statement="A statement without a stop"), "statement", "full stop", id="no-stop"),
        pytest.param(
            _second(level="SHOULD", profiles=["security-current", "security-enforced"]),
            "profiles",
            "exclude each other",
            id="both-security-stances",
        ),
        pytest.param(_second(profiles=["security-current"]), "level", "SHOULD", id="security-must"),
        pytest.param(_second(params=["a", "a"]), "params", "twice", id="repeated-param"),
        pytest.param(_drop("charts"), "charts", "required unless the rule is derived", id="no-charts-field"),
        pytest.param(_second(derived="refusals"), "derived", "list no charts", id="derived-with-charts"),
        pytest.param(_second(derived="everything"), "derived", "'everything'", id="unknown-derivation"),
    ],
)
def test_malformed_rule_names_file_rule_and_field(tmp_path: Path, mutate: Mutation, field: str, words: str) -> None:
    message = _error(_write(tmp_path, mutate))
    assert "rules[1]" in message, message
    assert f"field '{field}'" in message, message
    assert words in message, message


def test_bad_yaml_names_file_and_position(tmp_path: Path) -> None:
    message = _error(_write(tmp_path, raw="version: 1\nrules:\n  - id: [unclosed\n    level: MUST\n"))
    assert "invalid YAML" in message and "line " in message, message


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        pytest.param("", "(document)", id="empty-file"),
        pytest.param("- just\n- a list\n", "(document)", id="not-a-mapping"),
        pytest.param("version: 1\n", "rules", id="no-rules"),
        pytest.param("version: 1\nrules: []\n", "rules", id="empty-rules"),
        pytest.param("version: 2\nrules: []\n", "version", id="wrong-version"),
    ],
)
def test_malformed_document_names_the_field(tmp_path: Path, raw: str, field: str) -> None:
    message = _error(_write(tmp_path, raw=raw))
    assert f"field '{field}'" in message, message


def test_a_rule_that_is_not_a_mapping(tmp_path: Path) -> None:
    message = _error(_write(tmp_path, lambda doc: doc["rules"].append("oops")))
    assert "rules[2]" in message and "object" in message, message


def test_first_problem_in_document_order_is_reported(tmp_path: Path) -> None:
    def two_problems(doc: dict[str, Any]) -> None:
        doc["rules"][0]["outcomes"] = ["nope"]
        doc["rules"][1]["level"] = "MAY"

    message = _error(_write(tmp_path, two_problems))
    assert "rules[0] (KIND-EXAMPLE)" in message and "field 'outcomes'" in message, message


def test_missing_file(tmp_path: Path) -> None:
    message = _error(tmp_path / "absent.yaml")
    assert "does not exist" in message


def test_a_derived_rule_takes_the_charts_of_the_refusal_rules(tmp_path: Path) -> None:
    def derive(doc: dict[str, Any]) -> None:
        doc["rules"][0]["outcomes"] = ["refused-at-deployment"]
        doc["rules"][0].update(charts=["kind-forbidden-daemonset", "kind-forbidden-ingress"],
                               params=["DaemonSet", "Ingress"])
        del doc["rules"][1]["charts"]
        doc["rules"][1].update(level="SHOULD", derived="refusals", outcomes=["refusal-names-offender"])

    catalog = load_catalog(_write(tmp_path, derive))
    assert catalog["KIND-OTHER"].charts == ("kind-forbidden-daemonset", "kind-forbidden-ingress")
