"""Personalities: named settings and mutants that reproduce a known implementation, resolved by the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.catalog import load_catalog
from reference import cli
from reference.config import Behaviour, ServerConfig
from reference.errors import ConfigError
from reference.presets import NVCF_OSS_SHIPPED, PERSONALITIES, personality, preset_violations


def _config(tmp_path: Path, *flags: str) -> ServerConfig:
    args = cli.build_parser().parse_args(["serve", "--db", str(tmp_path / "nvcf.db"), *flags])
    return cli.build_config(args)


def test_every_personality_breaks_only_catalog_rules_and_says_why() -> None:
    ids = {rule.id for rule in load_catalog().rules}
    for name, found in PERSONALITIES.items():
        assert found.name == name
        assert set(found.breaks) <= ids, f"{name}: {sorted(set(found.breaks) - ids)} are not catalog rules"
        assert all(reason.strip() for reason in found.breaks.values())
        assert found.mutants <= set(found.breaks), f"{name}: mutants {sorted(found.mutants - set(found.breaks))}"


def test_oss_shipped_covers_the_documented_divergences() -> None:
    broken = set(NVCF_OSS_SHIPPED.breaks)
    assert {"CRD-CHART-DEPLOYS", "OBJECTS-OVER-300-REFUSED", "GRPC-URL-MARKS-FUNCTION", "SVC-TYPE-FORBIDDEN",
            "VOL-FORBIDDEN", "OVERRIDES-VALIDATED", "CHART-REF-OTHER-FORM-REFUSED"} <= broken
    # Object checks are a setting now, not the mutants that refuse nothing at all.
    assert preset_violations(["nvcf-oss-shipped"]) == {
        "RESTRICTIONS-CHECKED-AT-CREATION", "CRD-CHART-DEPLOYS", "OBJECTS-OVER-300-REFUSED", "GRPC-URL-MARKS-FUNCTION"}
    assert NVCF_OSS_SHIPPED.behaviour == Behaviour(
        refusal_texts="nvidia", chart_references="helm", object_checks="logged", inactive_invocation="404-first",
        problem_type_on_validation=False, page_examples=False, update_fixed_fields="ignored")
    assert NVCF_OSS_SHIPPED.pexec_on_api_host is False


def test_unknown_or_two_presets_are_one_line_errors() -> None:
    with pytest.raises(ConfigError, match="unknown preset"):
        preset_violations(["nvcf-oss-latest"])
    assert personality(None) is None and personality(["nvcf-oss-shipped", "nvcf-oss-shipped"]) is NVCF_OSS_SHIPPED


def test_the_preset_resolves_into_the_server_config(tmp_path: Path) -> None:
    config = _config(tmp_path, "--preset", "nvcf-oss-shipped", "--violate", "KIND-FORBIDDEN")
    assert config.pexec_on_api_host is False
    assert config.behaviour == NVCF_OSS_SHIPPED.behaviour
    assert config.violations == NVCF_OSS_SHIPPED.mutants | {"KIND-FORBIDDEN"}


def test_explicit_flags_win_over_the_preset(tmp_path: Path) -> None:
    config = _config(tmp_path, "--preset", "nvcf-oss-shipped", "--pexec-on-api-host", "--refusal-texts", "reference",
                     "--object-checks", "enforced", "--problem-type-on-validation")
    assert config.pexec_on_api_host is True
    assert config.behaviour == Behaviour(chart_references="helm", inactive_invocation="404-first", page_examples=False,
                                         update_fixed_fields="ignored")


def test_each_setting_has_its_own_flag(tmp_path: Path) -> None:
    config = _config(tmp_path, "--inactive-invocation", "404-first", "--chart-references", "helm")
    assert config.behaviour == Behaviour(inactive_invocation="404-first", chart_references="helm")
    assert config.pexec_on_api_host is True and config.violations == frozenset()


def test_without_a_preset_the_reference_is_unchanged(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert config.behaviour == Behaviour() and config.pexec_on_api_host is True and config.violations == frozenset()
    assert Behaviour() == Behaviour(refusal_texts="reference", chart_references="documented", object_checks="enforced",
                                    inactive_invocation="503", problem_type_on_validation=True)
