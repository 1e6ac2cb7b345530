"""The back half under the NVIDIA personality's settings, on sample charts published as the harness publishes them.

Only validation is exercised (no cluster): a deployment is refused synchronously at its creation with
NVIDIA's texts, or accepted where NVIDIA's shipped defaults accept it; the default back half beside it
keeps its own refusals.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from rb_support import Chart, deployment_for, function_for

from conformance.charts import pipeline, push
from conformance.charts.cases import load_cases
from conformance.env.registry import RegistryEndpoint
from reference.backend.cluster.kube import Kube
from reference.backend.deploy.deployer import KubeDeployer
from reference.backend.invocation.serving import ServingPlane
from reference.backend.settings import BackendSettings
from reference.charts import RegistryAuth
from reference.config import Behaviour
from reference.ports import Issue
from reference.presets import NVCF_OSS_SHIPPED

CASES = ("minimal-http", "kind-forbidden-daemonset", "service-nodeport", "volume-forbidden-hostpath", "kind-list",
         "name-underscore")
REVAL = "Helm chart validation error(s) from NVCF ReVal service: "


@pytest.fixture(scope="module")
def charts(registry: RegistryEndpoint, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Chart]:
    out = tmp_path_factory.mktemp("rbp-charts")
    cases = load_cases(CASES)
    built = pipeline.build(cases, "rbp", out)
    pushed = push.push(built.charts, registry, out, repository="rbp")
    return {case.id: Chart(case, p) for case, p in zip(cases, pushed, strict=True)}


def _deployer(registry: RegistryEndpoint, tmp_path: Path, behaviour: Behaviour, violate: frozenset[str] = frozenset()
              ) -> KubeDeployer:
    settings = BackendSettings(
        kubeconfig=tmp_path / "unused-kubeconfig", workdir=tmp_path / "backend",
        registry_auth=(RegistryAuth(registry.address, registry.username, registry.password),),
        behaviour=behaviour, violate=violate,
    )
    # Validation never reaches the cluster for single-node types: stand-ins keep the test off one.
    return KubeDeployer(settings, kube=cast(Kube, SimpleNamespace()), plane=cast(ServingPlane, SimpleNamespace()))


def _personality(registry: RegistryEndpoint, tmp_path: Path) -> KubeDeployer:
    return _deployer(registry, tmp_path, NVCF_OSS_SHIPPED.behaviour, NVCF_OSS_SHIPPED.mutants)


def _validate(deployer: KubeDeployer, chart: Chart, **changes: Any) -> list[Issue]:
    instance_type = changes.pop("instance_type", "DGXC.GPU.L40S_1x")
    function = function_for(chart, **changes)
    return asyncio.run(deployer.validate_deployment(function, deployment_for(function, instance_type)))


def _at_creation(deployer: KubeDeployer, chart: Chart, **changes: Any) -> list[Issue]:
    return asyncio.run(deployer.validate_at_creation(function_for(chart, **changes)))


def test_content_is_refused_at_deployment_creation_in_nvidias_words(
        charts: dict[str, Chart], registry: RegistryEndpoint, tmp_path: Path) -> None:
    deployer = _personality(registry, tmp_path)
    daemonset = charts["kind-forbidden-daemonset"]
    assert _at_creation(deployer, daemonset) == []  # nothing is rendered at function creation
    (issue,) = _validate(deployer, daemonset)
    assert issue.detail == REVAL + 'unsupported types: ["apps/v1.DaemonSet"]'
    (listed,) = _validate(deployer, charts["kind-list"])
    assert listed.detail.startswith(REVAL + "object ") and listed.detail.endswith(
        " is not a valid Kubernetes type (does not implement metav1.Object)")


def test_shipped_defaults_accept_what_object_checks_would_refuse(
        charts: dict[str, Chart], registry: RegistryEndpoint, tmp_path: Path) -> None:
    deployer = _personality(registry, tmp_path)
    for case in ("minimal-http", "service-nodeport", "volume-forbidden-hostpath", "name-underscore"):
        assert _validate(deployer, charts[case]) == [], case
    minimal = charts["minimal-http"]
    hostpath = {"volumes": [{"name": "host", "hostPath": {"path": "/etc"}}]}
    function = function_for(minimal)
    assert asyncio.run(deployer.validate_deployment(function, deployment_for(function, configuration=hostpath))) == []


def test_urls_are_checked_by_the_validator_at_deployment(
        charts: dict[str, Chart], registry: RegistryEndpoint, tmp_path: Path) -> None:
    deployer = _personality(registry, tmp_path)
    minimal = charts["minimal-http"]
    http = "http://" + minimal.url.removeprefix("oci://")
    assert _at_creation(deployer, minimal, helm_chart=http) == []
    (issue,) = _validate(deployer, minimal, helm_chart=http)
    assert issue.detail == REVAL + 'helm chart URL must use https or oci scheme, got "http"'
    tagged = f"{minimal.pushed.oci_ref}"  # oci://REG/REPO/charts/NAME:X.Y.Z
    assert ":" in tagged.rsplit("/", 1)[1] and _validate(deployer, minimal, helm_chart=tagged) == []
    missing = minimal.url.replace(f"-{minimal.pushed.version}.tgz", "-9.9.9.tgz")
    (gone,) = _validate(deployer, minimal, helm_chart=missing)
    assert gone.detail.startswith(REVAL + "run helm template: ") and "9.9.9" in gone.detail


def test_an_unknown_instance_type_is_nvidias_invalid_instance_type(
        charts: dict[str, Chart], registry: RegistryEndpoint, tmp_path: Path) -> None:
    deployer = _personality(registry, tmp_path)
    function = function_for(charts["minimal-http"])
    deployment = deployment_for(function)
    malformed = dataclasses.replace(deployment, specifications=(
        dataclasses.replace(deployment.specifications[0], instance_type="L40S-one"),))
    (issue,) = asyncio.run(deployer.validate_deployment(function, malformed))
    assert issue.detail == (f"Function id '{function.function_id}', version '{function.version_id}': "
                            "Invalid InstanceType 'L40S-one' specified")


def test_the_default_back_half_is_unchanged(charts: dict[str, Chart], registry: RegistryEndpoint,
                                            tmp_path: Path) -> None:
    deployer = _deployer(registry, tmp_path, Behaviour())
    minimal = charts["minimal-http"]
    (issue,) = _validate(deployer, charts["kind-forbidden-daemonset"])
    assert "KIND-FORBIDDEN" in issue.detail and "DaemonSet/" in issue.detail
    assert _validate(deployer, charts["service-nodeport"]) and _validate(deployer, charts["volume-forbidden-hostpath"])
    assert _at_creation(deployer, charts["kind-forbidden-daemonset"])  # refused at function creation already
    (tag,) = _at_creation(deployer, minimal, helm_chart=minimal.pushed.oci_ref)
    assert tag.field == "helmChart" and "OCI tag" in tag.detail
    (underscore,) = _at_creation(deployer, charts["name-underscore"])
    assert "CHART-NAME-SYMBOLS-REFUSED" not in underscore.detail and "underscore" in underscore.detail
