"""A registry that is away is the infrastructure's fault, never a refusal of the chart (issue #12, #5).

Function and deployment creation answer 503 (502 when the registry refuses this server's own
credentials) with Retry-After and a detail naming the registry, so no client takes it for a 400.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from ref_support import (
    ScriptedDeployer,
    assert_problem,
    create,
    deployment_path,
    gpu_spec,
    helm_function,
)

from reference.ports import BackendUnavailable, Deployment, FunctionVersion, Issue


class RegistryAway(ScriptedDeployer):
    def __init__(self, status: int) -> None:
        super().__init__()
        self.status = status
        self.away = True

    def _fault(self) -> None:
        if self.away:
            raise BackendUnavailable("the chart registry is not available, try again: registry reg.test:5000 "
                                     "cannot be reached (pull): connection refused", status=self.status)

    async def validate_at_creation(self, function: FunctionVersion) -> list[Issue]:
        self._fault()
        return []

    async def validate_deployment(self, function: FunctionVersion, deployment: Deployment) -> list[Issue]:
        self._fault()
        return []


@pytest.mark.parametrize("status", [503, 502])
def test_a_registry_away_is_5xx_with_retry_after(server: Callable[..., Any], status: int) -> None:
    deployer = RegistryAway(status)
    running = server(deployer=deployer)
    client = running.client()
    r = client.post("/v2/nvcf/functions", json=helm_function("registry-away"))
    body = assert_problem(r, status, "registry reg.test:5000 cannot be reached")
    assert r.headers["retry-after"] == "10" and "Invalid request" not in body["detail"]
    deployer.away = False
    fn = create(client, helm_function("registry-back"))
    deployer.away = True
    r = client.post(deployment_path(fn), json={"deploymentSpecifications": [gpu_spec()]})
    assert_problem(r, status, "cannot be reached")
    # Nothing was deployed or half-recorded: the version is still INACTIVE and can be deployed later.
    deployer.away = False
    assert client.post(deployment_path(fn), json={"deploymentSpecifications": [gpu_spec()]}).status_code == 200


def test_the_deployer_turns_registry_faults_into_backend_unavailable_and_retries_them(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio
    from types import SimpleNamespace
    from typing import cast

    from reference.backend.cluster.kube import Kube
    from reference.backend.deploy.deployer import KubeDeployer
    from reference.backend.invocation.serving import ServingPlane
    from reference.backend.settings import BackendSettings
    from reference.charts import RegistryAuthError, RegistryUnreachableError

    settings = BackendSettings(kubeconfig=tmp_path / "kc", workdir=tmp_path / "backend", registry_retry_seconds=30)
    deployer = KubeDeployer(settings, kube=cast(Kube, SimpleNamespace()), plane=cast(ServingPlane, SimpleNamespace()))
    attempts: list[str] = []
    faults: list[Exception] = [RegistryUnreachableError("registry r:1 cannot be reached (pull): refused")] * 2

    async def prepare_once(*_: Any) -> str:
        attempts.append("try")
        if faults:
            raise faults.pop(0)
        return "prepared"

    async def no_wait(_: float) -> None:
        return None

    monkeypatch.setattr(deployer, "_prepare_once", prepare_once)
    monkeypatch.setattr("reference.backend.deploy.deployer.asyncio.sleep", no_wait)
    function = cast(FunctionVersion, SimpleNamespace(function_id="f", version_id="v"))
    # A deployment already accepted outlives the registry's restart: tried again until it answers.
    assert asyncio.run(deployer._prepare_retrying(function, None)) == "prepared"
    assert len(attempts) == 3
    # At creation there is no waiting: the caller gets 503 and retries when it likes.
    faults.append(RegistryUnreachableError("registry r:1 cannot be reached (pull): refused"))
    with pytest.raises(BackendUnavailable) as caught:
        asyncio.run(deployer._prepare(function, None))
    assert caught.value.status == 503 and "cannot be reached" in caught.value.detail
    faults.append(RegistryAuthError("registry r:1 refused access to repo with the configured credentials"))
    with pytest.raises(BackendUnavailable) as caught:
        asyncio.run(deployer._prepare(function, None))
    assert caught.value.status == 502
