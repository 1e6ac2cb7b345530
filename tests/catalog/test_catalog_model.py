"""The typed model: lookups, scoping by profile, parametrisation, immutability."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from conformance.catalog import Catalog, Rule, Variant, load_catalog
from conformance.catalog.load import DEFAULT_PATH


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_default_and_explicit_paths_load_the_same_rules(catalog: Catalog) -> None:
    assert catalog.path == DEFAULT_PATH
    assert load_catalog(str(DEFAULT_PATH)).rules == catalog.rules
    assert load_catalog(Path(DEFAULT_PATH)).rules == catalog.rules


def test_lookup_by_id(catalog: Catalog) -> None:
    rule = catalog["KIND-FORBIDDEN"]
    assert isinstance(rule, Rule) and rule.level == "MUST"
    assert catalog.get("KIND-FORBIDDEN") is rule
    assert catalog.get("NO-SUCH-RULE") is None
    assert "KIND-FORBIDDEN" in catalog and "NO-SUCH-RULE" not in catalog
    with pytest.raises(KeyError, match="NO-SUCH-RULE"):
        catalog["NO-SUCH-RULE"]
    assert catalog.ids()[0] == catalog.rules[0].id and len(catalog.ids()) == len(catalog)


def test_lookup_by_profile_level_and_chart(catalog: Catalog) -> None:
    assert all("grpc" in r.profiles for r in catalog.by_profile("grpc"))
    assert {r.id for r in catalog.by_profile("grpc")} >= {"GRPC-INVOCATION", "GRPC-URL-LOWERCASE"}
    assert all(r.level == "EXT" for r in catalog.by_level("EXT"))
    assert sum(len(catalog.by_level(level)) for level in ("MUST", "SHOULD", "EXT")) == len(catalog)
    hooks = {r.id for r in catalog.by_chart("hook-test")}
    assert hooks == {"HOOKS-NOT-RUN", "HOOKS-NOT-CREATED", "REFUSAL-NAMES-OFFENDER"}  # the last is derived
    assert catalog.by_chart("no-such-case") == ()


def test_cases_is_the_union_of_charts(catalog: Catalog) -> None:
    cases = catalog.cases()
    assert isinstance(cases, set)
    assert cases == {c for r in catalog for c in r.charts}
    assert "minimal-http" in cases


def test_scope_needs_every_listed_profile(catalog: Catalog) -> None:
    core_only = catalog.in_scope([])
    assert core_only and all(r.profiles == ("core",) for r in core_only)
    white = {r.id for r in catalog.in_scope(["white-box"])}
    assert "HOOKS-NOT-CREATED" in white and "MULTINODE-PLACEMENT" not in white
    assert "MULTINODE-PLACEMENT" in {r.id for r in catalog.in_scope(["multinode", "white-box"])}
    current = {r.id for r in catalog.in_scope(["security-current"])}
    assert "SEC-LIMITS-CURRENT" in current and "SEC-LIMITS-ENFORCED" not in current
    assert catalog["GRPC-URL-LOWERCASE"].applies(["ext", "grpc"])
    assert not catalog["GRPC-URL-LOWERCASE"].applies(["ext"])


def test_variants_pair_params_with_charts(catalog: Catalog) -> None:
    kinds = catalog["KIND-FORBIDDEN"].variants()
    assert kinds[0] == Variant("DaemonSet", "kind-forbidden-daemonset")
    shared = catalog["FN-HELM-NO-CONTAINER-FIELDS"].variants()
    assert {v.case for v in shared} == {"minimal-http"} and len(shared) == 3
    plain = catalog["FN-CREATE-HELM"].variants()
    assert plain == (Variant(None, "minimal-http"),)


def test_outcome_membership(catalog: Catalog) -> None:
    rule = catalog["OBJECTS-OVER-300-REFUSED"]
    assert rule.accepts("refused-at-deployment")
    assert not rule.accepts("deployed-conformant")


def test_rules_and_catalog_are_immutable(catalog: Catalog) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        catalog.rules[0].level = "SHOULD"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        catalog.rules = ()  # type: ignore[misc]
    assert isinstance(catalog.rules, tuple) and isinstance(catalog.rules[0].charts, tuple)
