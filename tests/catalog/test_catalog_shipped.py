"""The shipped rules.yaml: loads, passes the schema, and keeps its promises to suites and charts."""

from __future__ import annotations

import re
from collections import Counter

import jsonschema
import pytest
import yaml

from conformance.catalog import schema
from conformance.catalog.cases import CONTRACT_CASES
from conformance.catalog.load import DEFAULT_PATH, Catalog, load_catalog


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_loads_and_passes_the_schema(catalog: Catalog) -> None:
    raw = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema.json_schema()).validate(raw)
    assert len(catalog) == len(raw["rules"])
    # The catalog is the spec of the whole harness; a near-empty file is a packaging accident.
    assert 60 <= len(catalog) <= 200


def test_the_schema_itself_is_valid() -> None:
    jsonschema.Draft202012Validator.check_schema(schema.json_schema())


def test_ids_are_unique_and_stable_shaped(catalog: Catalog) -> None:
    counts = Counter(r.id for r in catalog)
    assert [i for i, n in counts.items() if n > 1] == []
    assert all(re.fullmatch(schema.ID_PATTERN, r.id) for r in catalog)


def test_every_level_and_every_profile_is_used(catalog: Catalog) -> None:
    assert {r.level for r in catalog} == set(schema.LEVELS)
    assert {p for r in catalog for p in r.profiles} == set(schema.PROFILES)


@pytest.mark.parametrize("level", ["MUST", "SHOULD"])
def test_documented_rules_cite_a_doc_section(catalog: Catalog, level: str) -> None:
    for rule in catalog.by_level(level):
        source, _, section = rule.doc.partition("#")
        assert source in schema.DOC_SOURCES_SPEC, rule.id
        assert section, rule.id
        if source == "helm-based-functions":
            assert section in schema.HELM_DOC_SECTIONS, rule.id


def test_ext_rules_are_opt_in_and_only_they_are(catalog: Catalog) -> None:
    for rule in catalog:
        assert (rule.level == "EXT") == ("ext" in rule.profiles), rule.id


def test_security_rules_are_should_and_come_in_twins(catalog: Catalog) -> None:
    current = {r.id.removesuffix("-CURRENT"): r for r in catalog.by_profile("security-current")}
    enforced = {r.id.removesuffix("-ENFORCED"): r for r in catalog.by_profile("security-enforced")}
    assert all(r.level == "SHOULD" for r in (*current.values(), *enforced.values()))
    # A vendor claims one stance; every standard must be judged under both, on the same charts.
    assert set(current) <= set(enforced)
    for stem, rule in current.items():
        assert rule.id.endswith("-CURRENT")
        assert enforced[stem].charts == rule.charts, stem
        assert set(rule.outcomes) <= {"deployed-conformant", "deployed-modified-conformant"}
        assert {"refused-at-creation", "refused-at-deployment"} <= set(enforced[stem].outcomes)
    covered = {c for r in current.values() for c in r.charts}
    assert covered == {c for c in CONTRACT_CASES if c.startswith("security-")}


def test_every_rule_names_a_case_from_the_contract(catalog: Catalog) -> None:
    for rule in catalog:
        assert rule.charts, rule.id
        assert set(rule.charts) <= CONTRACT_CASES, (rule.id, sorted(set(rule.charts) - CONTRACT_CASES))


def test_every_contract_case_is_used_by_a_rule(catalog: Catalog) -> None:
    assert sorted(CONTRACT_CASES - catalog.cases()) == []


def test_every_outcome_is_from_the_vocabulary(catalog: Catalog) -> None:
    for rule in catalog:
        assert set(rule.outcomes) <= set(schema.OUTCOMES), rule.id
        assert not set(rule.outcomes) & set(schema.NONCONFORMANT_OBSERVATIONS), rule.id


def test_refusals_always_allow_every_phase_the_docs_leave_open(catalog: Catalog) -> None:
    # The docs do not fix when a bad chart is caught; a rule that allows refusal at creation but not at
    # deployment (or the reverse) would fail a conformant implementation for its timing alone.
    refusals = {"refused-at-creation", "refused-at-deployment", "deployment-error"}
    deliberate = {
        "RESTRICTIONS-CHECKED-AT-CREATION",  # the SHOULD about timing itself
        "OVERRIDES-VALIDATED",  # values arrive with the deployment, so creation cannot see them
        "ITYPE-MALFORMED-REFUSED",  # the instance type arrives with the deployment
        "MULTINODE-FULL-NODE-ONLY",
    }
    for rule in catalog:
        if rule.id in deliberate:
            continue
        present = refusals & set(rule.outcomes)
        assert not present or present == refusals, rule.id


# Where params name the thing a case carries, the pairing by position must not drift.
PAIRED_BY_NAME = (
    "KIND-ALLOWED",
    "KIND-FORBIDDEN",
    "SVC-TYPE-FORBIDDEN",
    "VOL-ALLOWED",
    "VOL-FORBIDDEN",
    "VOL-PROJECTED-SOURCE-FORBIDDEN",
    "HOOKS-NOT-RUN",
    "HOOKS-NOT-CREATED",
    "CRD-CHART-DEPLOYS",
    "CRD-NOT-INSTALLED",
    "SEC-HOST-NAMESPACES-CURRENT",
    "SEC-HOST-NAMESPACES-ENFORCED",
)


def _squash(text: str) -> str:
    return text.lower().replace("-", "")


@pytest.mark.parametrize("rule_id", PAIRED_BY_NAME)
def test_params_pair_with_the_case_that_carries_them(catalog: Catalog, rule_id: str) -> None:
    rule = catalog[rule_id]
    assert len(rule.params) == len(rule.charts) > 1
    for param, case in rule.variants():
        assert _squash(case).endswith(_squash(str(param))), (rule_id, param, case)


def test_variants_cover_every_chart(catalog: Catalog) -> None:
    for rule in catalog:
        variants = rule.variants()
        assert {v.case for v in variants} == set(rule.charts), rule.id
        assert len(variants) == (len(rule.params) if rule.params else len(rule.charts)), rule.id


def test_statements_are_single_sentences(catalog: Catalog) -> None:
    for rule in catalog:
        assert "\n" not in rule.statement and rule.statement.endswith("."), rule.id
        assert rule.statement[0].isupper() or rule.statement[0] == "`", rule.id


def test_design_minimum_is_covered(catalog: Catalog) -> None:
    # Rule ids that other parts of the harness (mutants, expectations, docs) are written against.
    for rule_id in (
        "KIND-ALLOWED",
        "KIND-FORBIDDEN",
        "SVC-TYPE-CLUSTERIP",
        "SVC-TYPE-FORBIDDEN",
        "OBJECTS-MAX-300-ACCEPTED",
        "OBJECTS-OVER-300-REFUSED",
        "VOL-ALLOWED",
        "VOL-FORBIDDEN",
        "HOOKS-NOT-RUN",
        "CRD-CHART-DEPLOYS",
        "PULL-SECRETS-ALL-PODS",
        "KIND-LIST-REFUSED",
        "OBJECT-SIZE-LIMIT",
        "GRPC-URL-LOWERCASE",
        "MULTINODE-FULL-NODE-ONLY",
    ):
        assert rule_id in catalog
    assert len(catalog["KIND-ALLOWED"].params) == 13
    assert len(catalog["KIND-FORBIDDEN"].params) == 17


def test_known_divergences_are_recorded(catalog: Catalog) -> None:
    for rule_id in (
        "CRD-CHART-DEPLOYS",
        "OBJECTS-OVER-300-REFUSED",
        "GRPC-URL-MARKS-FUNCTION",
        "SVC-TYPE-FORBIDDEN",
        "VOL-FORBIDDEN",
        "PULL-SECRETS-ALL-PODS",
    ):
        assert catalog[rule_id].divergence, rule_id
