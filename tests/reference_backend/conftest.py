"""Sample charts pushed to the embedded registry, and back halves against the embedded KWOK cluster."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rb_support import Chart

from conformance.charts import pipeline, push
from conformance.charts.cases import load_cases
from conformance.env.registry import RegistryEndpoint
from reference.backend import Backend, BackendSettings, build_backend
from reference.backend.cluster import namespaces
from reference.backend.cluster.kube import Kube
from reference.charts import RegistryAuth
from reference.ports import FunctionVersion

CASES = ("minimal-http", "grpc", "multinode", "pull-secrets-all-pod-specs", "kind-forbidden-daemonset",
         "volume-allowed-persistentvolumeclaim")
RUN_ID = "rb"
# Any image but the probe: the KWOK data plane must refuse to stand in for it.
FOREIGN_IMAGE = "docker.io/library/nginx:1.27"


@pytest.fixture(scope="session")
def rb_registry(embedded_env: dict[str, Any]) -> RegistryEndpoint:
    reg = embedded_env["registry"]
    return RegistryEndpoint(reg["address"], reg["username"], reg["password"])


@pytest.fixture(scope="session")
def charts(rb_registry: RegistryEndpoint, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Chart]:
    """The sample charts these tests deploy, by case id; `foreign-image` is minimal-http running nginx."""
    out = tmp_path_factory.mktemp("rb-charts")
    cases = load_cases(CASES)
    built = pipeline.build(cases, RUN_ID, out)
    pushed = push.push(built.charts, rb_registry, out, repository="rb")
    found = {case.id: Chart(case, p) for case, p in zip(cases, pushed, strict=True)}
    foreign_cases = load_cases(["minimal-http"])
    foreign = pipeline.build(foreign_cases, RUN_ID, out, image=FOREIGN_IMAGE)
    (foreign_pushed,) = push.push(foreign.charts, rb_registry, out, repository="rb-foreign")
    found["foreign-image"] = Chart(foreign_cases[0], foreign_pushed)
    return found


@pytest.fixture(scope="session")
def leave_behind(embedded_env: dict[str, Any]) -> Iterator[Callable[[Backend, FunctionVersion], Awaitable[None]]]:
    """`await leave_behind(backend, function)`: an undeploy that does not wait for the namespace to go.

    The probes stop and the pods are deleted at once (so no GPU stays taken for the tests that follow),
    but the namespace controller takes ~5 s to remove a namespace, on purpose; the waiting is done for
    all tests together at the end. One test undeploys for real and checks every step.
    """
    names: list[str] = []

    async def leave(backend: Backend, function: FunctionVersion) -> None:
        await backend.data_plane.release(function.version_id)
        name = backend.deployer.namespace_for(function)
        await namespaces.begin_delete(backend.deployer.kube, name)
        names.append(name)

    yield leave
    kube = Kube(Path(embedded_env["kubeconfig"]))

    async def remove_all() -> None:
        await asyncio.gather(*(namespaces.wait_deleted(kube, name, timeout=60) for name in names))

    try:
        asyncio.run(remove_all())
    finally:
        kube.close()


@pytest.fixture
def make_backend(embedded_env: dict[str, Any], rb_registry: RegistryEndpoint, tmp_path: Path
                 ) -> Iterator[Callable[..., Backend]]:
    """make_backend(**settings) → a back half on the KWOK cluster; every one is closed after the test."""
    made: list[Backend] = []
    base = BackendSettings(
        kubeconfig=Path(embedded_env["kubeconfig"]), workdir=tmp_path / "backend",
        registry_auth=(RegistryAuth(rb_registry.address, rb_registry.username, rb_registry.password),),
        deploy_timeout=30.0, schedule_timeout=3.0, undeploy_timeout=60.0,
    )

    def make(**changes: Any) -> Backend:
        backend = build_backend(dataclasses.replace(base, **changes))
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()

