"""Test doubles for the reference server's ports, and helpers to run it on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from reference.app import create_app
from reference.auth import ALL_SCOPES, Principal, TokenRegistry
from reference.config import ServerConfig
from reference.ports import (
    DataPlane,
    DataPlaneError,
    Deployer,
    Deployment,
    DeploymentUpdate,
    ForwardRequest,
    ForwardResponse,
    FunctionVersion,
    Instance,
    Issue,
)
from reference.server import ServerThread

ADMIN = "test-admin-token-5f0c2a"
READER = "test-reader-token-91be4d"
INVOKER = "test-invoker-token-07aa13"
NOBODY = "test-noscope-token-c3d9e8"
TOKENS = {
    ADMIN: Principal("admin", frozenset(ALL_SCOPES)),
    READER: Principal("reader", frozenset({"list_functions"})),
    INVOKER: Principal("invoker", frozenset({"invoke_function"})),
    NOBODY: Principal("nobody", frozenset()),
}
GATEWAY = "gw.test"
PROBLEM_FIELDS = {"type", "title", "status", "detail", "instance"}


def assert_problem(response: httpx.Response, status: int, *needles: str) -> dict[str, Any]:
    """The response is an RFC 7807 problem with `status` whose detail mentions every needle."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert set(body) >= PROBLEM_FIELDS, body
    assert body["status"] == status
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["instance"] == response.request.url.path
    for needle in needles:
        assert needle in body["detail"], (needle, body["detail"])
    return body


@dataclass(frozen=True)
class Step:
    """Wait `delay` seconds, then report `update`; `update=None` waits forever (a deploy that hangs)."""

    delay: float
    update: DeploymentUpdate | None


ACTIVE_SOON = [
    Step(0.05, DeploymentUpdate("DEPLOYING", "rendering chart")),
    Step(0.05, DeploymentUpdate("ACTIVE", instances=(Instance("i-1", "RUNNING", gpu="L40S"),))),
]
HOLD = [Step(0.0, DeploymentUpdate("DEPLOYING", "waiting for pods")), Step(0.0, None)]


class ScriptedDeployer:
    """Plays a script per function-name prefix (default `script`); records every call.

    A script is a list of steps, or the string "raise" for a deployer that fails outright.
    """

    def __init__(self, script: list[Step] | None = None, *, by_prefix: dict[str, list[Step] | str] | None = None,
                 creation_issues: dict[str, list[Issue]] | None = None,
                 deployment_issues: dict[str, list[Issue]] | None = None) -> None:
        self.script = ACTIVE_SOON if script is None else script
        self.by_prefix = by_prefix or {}
        self.creation_issues = creation_issues or {}
        self.deployment_issues = deployment_issues or {}
        self.fail_undeploy = False
        self.deploy_calls: list[tuple[str, bool]] = []
        self.undeploy_calls: list[str] = []
        self.shutdowns = 0

    def _script_for(self, name: str) -> list[Step] | str:
        for prefix, script in self.by_prefix.items():
            if name.startswith(prefix):
                return script
        return self.script

    async def validate_at_creation(self, function: FunctionVersion) -> list[Issue]:
        return list(self.creation_issues.get(function.name, []))

    async def validate_deployment(self, function: FunctionVersion, deployment: Deployment) -> list[Issue]:
        return list(self.deployment_issues.get(function.name, []))

    async def deploy(self, function: FunctionVersion, deployment: Deployment, *, resumed: bool
                     ) -> AsyncIterator[DeploymentUpdate]:
        self.deploy_calls.append((function.version_id, resumed))
        script = self._script_for(function.name)
        if script == "raise":
            raise RuntimeError("cluster unreachable")
        for step in script:
            await asyncio.sleep(step.delay)
            if step.update is None:
                await asyncio.Event().wait()
            else:
                yield step.update

    async def undeploy(self, function: FunctionVersion, deployment: Deployment) -> None:
        self.undeploy_calls.append(function.version_id)
        if self.fail_undeploy:
            raise RuntimeError("namespace stuck terminating")

    async def shutdown(self) -> None:
        self.shutdowns += 1


class EchoDataPlane:
    """Answers every request with a JSON description of it; header `x-delay: S` makes it take S s."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, ForwardRequest]] = []

    async def forward(self, function: FunctionVersion, request: ForwardRequest) -> ForwardResponse:
        self.requests.append((function.version_id, request))
        headers = {k.lower(): v for k, v in request.headers}
        if "x-unreachable" in headers:
            raise DataPlaneError(503, "no ready instance")
        await asyncio.sleep(float(headers.get("x-delay", "0")))
        body = {
            "method": request.method, "path": request.path, "query": request.query,
            "body": request.body.decode("utf-8", "replace"), "function": function.function_id,
            "version": function.version_id, "headers": headers,
        }
        status = int(headers.get("x-status", "200"))
        return ForwardResponse(status, (("content-type", "application/json"), ("x-echo", "yes")),
                               json.dumps(body).encode())


@dataclass
class Running:
    thread: ServerThread
    deployer: Any
    data_plane: Any
    db: Path
    clients: dict[str | None, httpx.Client] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.thread.url

    def client(self, token: str | None = ADMIN) -> httpx.Client:
        """A client sending `token`; one per token, reused (building one costs an SSL context)."""
        if token not in self.clients:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            self.clients[token] = httpx.Client(base_url=self.url, headers=headers, timeout=15)
        return self.clients[token]

    def stop(self) -> None:
        for c in self.clients.values():
            c.close()
        self.clients.clear()
        self.thread.stop()  # a no-op when already stopped


def start_server(db: Path, *, deployer: Deployer | None = None, data_plane: DataPlane | None = None,
                 **overrides: Any) -> Running:
    settings: dict[str, Any] = {"gateway_domain": GATEWAY, **overrides}
    config = ServerConfig(db_path=db, **settings)
    app = create_app(config, TokenRegistry(TOKENS), deployer=deployer, data_plane=data_plane)
    return Running(ServerThread(app).start(), deployer, data_plane, db)


# --- request builders -----------------------------------------------------------------------------

def helm_function(name: str = "helm-fn", **extra: Any) -> dict[str, Any]:
    body = {
        "name": name, "inferenceUrl": "/echo", "inferencePort": 8000,
        "helmChart": "oci://registry.test/ns/charts/inference-test-1.0.0.tgz",
        "helmChartServiceName": "entrypoint", "apiBodyFormat": "CUSTOM",
    }
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


def container_function(name: str = "container-fn", **extra: Any) -> dict[str, Any]:
    body = {"name": name, "inferenceUrl": "/echo", "inferencePort": 8000, "containerImage": "registry.test/echo:1"}
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


def gpu_spec(**extra: Any) -> dict[str, Any]:
    spec = {"gpu": "L40S", "instanceType": "DGXC.GPU.L40S_1x", "minInstances": 1, "maxInstances": 1}
    spec.update(extra)
    return {k: v for k, v in spec.items() if v is not None}


def deployment_path(fn: dict[str, Any]) -> str:
    return f"/v2/nvcf/deployments/functions/{fn['id']}/versions/{fn['versionId']}"


def version_path(fn: dict[str, Any]) -> str:
    return f"/v2/nvcf/functions/{fn['id']}/versions/{fn['versionId']}"


def create(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/v2/nvcf/functions", json=body)
    assert r.status_code == 200, r.text
    fn: dict[str, Any] = r.json()["function"]
    return fn


def wait_for_status(client: httpx.Client, fn: dict[str, Any], wanted: str | Callable[[str], bool],
                    timeout: float = 10.0) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + timeout
    while True:
        r = client.get(version_path(fn))
        assert r.status_code == 200, r.text
        current: dict[str, Any] = r.json()["function"]
        ok = wanted(current["status"]) if callable(wanted) else current["status"] == wanted
        if ok:
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"status stayed {current['status']}, wanted {wanted}")
        time.sleep(0.02)
