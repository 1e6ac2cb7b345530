"""Helm chart overrides (`deploymentSpecifications[].configuration`), observed through the probe's /probe."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.client import Nonconformant
from conformance.plugin import ChartRef, DeployedFunction, Expect, Functions

pytestmark = pytest.mark.case("overrides")

OVERRIDE = {
    "probe": {
        "greeting": "overridden",
        "nested": {"deeper": {"override": "overridden"}},
        "list": ["override-only"],
    }
}


def _mounted(deployed: DeployedFunction) -> dict[str, Any]:
    """The files of the chart's values ConfigMap as the pod got them, by name."""
    reply = deployed.probe()
    if reply.status_code != 200:
        raise Nonconformant(f"the mini-service's /probe is not reachable: {reply.describe()}", "wrong-answer")
    body = reply.json()
    if not isinstance(body, dict):
        raise Nonconformant(f"the mini-service's /probe answer is not its JSON object: {reply.text[:200]!r}",
                            "wrong-answer")
    return body.get("values") or {}


def _values(deployed: DeployedFunction) -> dict[str, Any]:
    """The chart's `probe` values as the pod got them (the mounted values.json)."""
    mounted = _mounted(deployed)
    values = mounted.get("values.json")
    if not isinstance(values, dict):
        raise Nonconformant(f"the pod has no mounted values.json: {str(mounted)[:300]!r}", "deployed-violating")
    return values


def _overridden(chart: ChartRef, functions: Functions) -> dict[str, Any]:
    # Deployed in the test body, not a fixture: a refusal of this valid chart is a FAIL, not an ERROR.
    return _values(functions.deployed(chart, configuration=OVERRIDE))


@pytest.mark.rule("OVERRIDES-SCALAR")
def test_scalar_override(chart: ChartRef, functions: Functions, expect: Expect) -> None:
    # The rule is about a top-level key (the docs' `key_one`); probe.greeting is nested, OVERRIDES-NESTED's.
    mounted = _mounted(functions.deployed(chart, configuration={"greeting": "overridden"}))
    if "greeting" not in mounted:
        raise Nonconformant(f"the pod has no mounted greeting file: {sorted(mounted)}", "deployed-violating")
    assert mounted["greeting"] == "overridden", f"greeting is {mounted['greeting']!r}"
    expect.observed("deployed-conformant", "greeting (top level) = overridden")


@pytest.mark.rule("OVERRIDES-NESTED")
def test_nested_override(chart: ChartRef, functions: Functions, expect: Expect) -> None:
    overridden = _overridden(chart, functions)
    value = overridden.get("nested", {}).get("deeper", {}).get("override")
    assert value == "overridden", f"probe.nested.deeper.override is {value!r}"
    expect.observed("deployed-conformant", "probe.nested.deeper.override = overridden")


@pytest.mark.rule("OVERRIDES-UNSET-KEEP-DEFAULTS")
def test_unset_keys_keep_defaults(chart: ChartRef, functions: Functions, expect: Expect) -> None:
    values = _values(functions.deployed(chart, configuration={"probe": {"greeting": "overridden"}}))
    nested = values.get("nested", {})
    assert nested.get("keep") == "chart-default" and nested.get("deeper", {}).get("keep") == "chart-default", nested
    assert values.get("list") == ["chart-default-1", "chart-default-2"], values.get("list")
    expect.observed("deployed-conformant", "keys not in configuration kept their chart defaults")


@pytest.mark.rule("OVERRIDES-MAPS-MERGE")
def test_maps_merge(chart: ChartRef, functions: Functions, expect: Expect) -> None:
    overridden = _overridden(chart, functions)
    nested = overridden.get("nested", {})
    assert nested.get("override") == "chart-default" and nested.get("deeper", {}).get("keep") == "chart-default", (
        f"siblings of the overridden key lost their defaults: {nested}")
    expect.observed("deployed-conformant", "sibling keys of nested overrides kept")


@pytest.mark.rule("OVERRIDES-LISTS-REPLACE")
def test_lists_replace(chart: ChartRef, functions: Functions, expect: Expect) -> None:
    overridden = _overridden(chart, functions)
    assert overridden.get("list") == ["override-only"], f"probe.list is {overridden.get('list')!r}"
    expect.observed("deployed-conformant", "the list was replaced as a whole")


@pytest.mark.rule("OVERRIDES-NULL-REMOVES")
def test_null_removes(chart: ChartRef, functions: Functions, expect: Expect) -> None:
    values = _values(functions.deployed(chart, configuration={"probe": {"nested": {"keep": None}}}))
    assert "keep" not in values.get("nested", {}), f"probe.nested.keep is still {values['nested'].get('keep')!r}"
    expect.observed("deployed-conformant", "probe.nested.keep removed by null")


@pytest.mark.rule("OVERRIDES-VALIDATED")
def test_overrides_are_validated(chart: ChartRef, expect: Expect) -> None:
    # Lists replace, so the chart's own values mount is repeated next to the forbidden hostPath volume.
    configuration = {"miniService": {
        "volumes": [{"name": "values", "configMap": {"name": "overrides-values"}},
                    {"name": "override-hostpath", "hostPath": {"path": "/var/tmp/nvcf-conformance"}}],
        "volumeMounts": [{"name": "values", "mountPath": "/etc/mini-service/values", "readOnly": True},
                         {"name": "override-hostpath", "mountPath": "/mnt/override", "readOnly": True}],
    }}
    expect.refused(chart, offenders=["hostPath", "override-hostpath"], configuration=configuration)
