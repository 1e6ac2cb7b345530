"""After a restart a function shows ACTIVE only once the new process's data plane serves it again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from ref_support import (
    INVOKER,
    EchoDataPlane,
    Running,
    ScriptedDeployer,
    create,
    deployment_path,
    gpu_spec,
    helm_function,
    version_path,
    wait_for_status,
)

from reference.ports import (
    DataPlaneError,
    Deployment,
    DeploymentUpdate,
    ForwardRequest,
    ForwardResponse,
    FunctionVersion,
    Instance,
)


class RoutedDataPlane(EchoDataPlane):
    """Like a real data plane, a new one has no routes: a version is reachable once a deployer adds it."""

    def __init__(self) -> None:
        super().__init__()
        self.routes: set[str] = set()

    async def forward(self, function: FunctionVersion, request: ForwardRequest) -> ForwardResponse:
        if function.version_id not in self.routes:
            raise DataPlaneError(503, f"no route to function version {function.version_id} yet")
        return await super().forward(function, request)


class AttachingDeployer(ScriptedDeployer):
    """Takes `attach_seconds` to (re)start the instances, routes them, reports ACTIVE, then keeps watching."""

    def __init__(self, plane: RoutedDataPlane, attach_seconds: float) -> None:
        super().__init__()
        self.plane = plane
        self.attach_seconds = attach_seconds

    async def deploy(self, function: FunctionVersion, deployment: Deployment, *, resumed: bool
                     ) -> AsyncIterator[DeploymentUpdate]:
        self.deploy_calls.append((function.version_id, resumed))
        await asyncio.sleep(self.attach_seconds)
        self.plane.routes.add(function.version_id)
        yield DeploymentUpdate("ACTIVE", instances=(Instance("i-1", "RUNNING", gpu="L40S"),))
        await asyncio.Event().wait()


def test_active_after_a_restart_means_invocations_are_served(server: Callable[..., Running], tmp_path: Path
                                                              ) -> None:
    db = tmp_path / "restart.db"
    plane = RoutedDataPlane()
    first = server(db, deployer=AttachingDeployer(plane, 0.05), data_plane=plane)
    fn = create(first.client(), helm_function("restarted"))
    first.client().post(deployment_path(fn), json={"deploymentSpecifications": [gpu_spec()]})
    wait_for_status(first.client(), fn, "ACTIVE")
    first.stop()

    plane = RoutedDataPlane()
    deployer = AttachingDeployer(plane, 0.6)
    second = server(db, deployer=deployer, data_plane=plane)
    client, invoker = second.client(), second.client(INVOKER)
    seen: list[str] = []
    served = 0
    deadline = time.monotonic() + 10
    while served < 3:
        assert time.monotonic() < deadline, f"never served; statuses seen: {seen}"
        status = client.get(version_path(fn)).json()["function"]["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == "ACTIVE":
            answer = invoker.post(f"/v2/nvcf/pexec/functions/{fn['id']}", json={"q": 1})
            assert answer.status_code == 200, (seen, answer.status_code, answer.text)
            served += 1
        time.sleep(0.02)
    assert seen == ["DEPLOYING", "ACTIVE"]
    assert deployer.deploy_calls == [(fn["versionId"], True)]
