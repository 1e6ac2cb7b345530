"""The back half's gRPC mutants, and the KWOK data plane's image-pull check that makes the pull-secret
mutant observable.

The proxy and health units run against stand-ins on 127.0.0.1; the tests marked `env` deploy sample
charts on the embedded KWOK cluster.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from rb_support import Chart, FunctionRoutes, Progress, RecordingUpstream, deployment_for, function_for

from conformance.catalog.load import load_catalog
from conformance.charts import naming, pipeline, push
from conformance.charts.cases import load_cases
from conformance.env.registry import RegistryEndpoint
from conformance.mutation.mutants import load_mapping, select
from reference import rules
from reference.backend import Backend
from reference.backend.deploy.health import check_grpc
from reference.backend.invocation.grpc_proxy import GrpcProxy
from reference.backend.kwok.images import credential_hosts, pull_problem, registry_of
from reference.charts import RegistryAuth
from reference.charts.mutate import pull_secret_manifest
from reference.ports import FunctionVersion

Leave = Callable[[Backend, FunctionVersion], Awaitable[None]]
MODEL_INFER = "/inference.GRPCInferenceService/ModelInfer"
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
PRIVATE = "registry.example:5000"
IMAGE = f"{PRIVATE}/nvcf-conformance/mini-service:0.1.0"


# ── the mutant ids ────────────────────────────────────────────────────────────────────────────


def test_the_backend_mutants_are_catalog_rules_each_its_own_mutant() -> None:
    catalog = load_catalog()
    ids = [rules.GRPC_INVOCATION, rules.GRPC_VERSION_METADATA, rules.GRPC_HEALTH_GATES_ACTIVE]
    assert all(i in catalog for i in ids)
    mutants = {m.rule: m for m in select(catalog, load_mapping(), rules=[*ids, "PULL-SECRETS-PRIVATE-IMAGE"])}
    for rule in ids:
        assert mutants[rule].violate == (rule,) and not mutants[rule].pending
    assert mutants["PULL-SECRETS-PRIVATE-IMAGE"].violate == (rules.PULL_SECRETS_ALL_PODS,)


# ── gRPC proxy mutants ────────────────────────────────────────────────────────────────────────


@asynccontextmanager
async def _proxied(violate: frozenset[str]) -> Any:
    upstream = RecordingUpstream()
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((upstream,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    routes = FunctionRoutes(f"127.0.0.1:{port}")
    proxy = GrpcProxy(routes, violate=violate)  # type: ignore[arg-type]
    proxy_port = await proxy.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{proxy_port}") as channel:
            yield channel, upstream, routes
    finally:
        await proxy.stop()
        await server.stop(None)


async def _unary(channel: grpc.aio.Channel, method: str, version: str | None = None) -> bytes:
    metadata = [("function-id", "f"), *([("function-version-id", version)] if version else [])]
    reply: bytes = await channel.unary_unary(method)(b"ping", metadata=tuple(metadata), timeout=5)
    return reply


def test_the_unmutated_proxy_relays_model_infer_with_the_version_metadata() -> None:
    async def scenario() -> None:
        async with _proxied(frozenset()) as (channel, upstream, routes):
            assert await _unary(channel, MODEL_INFER) == b"reply:ping"
            assert await _unary(channel, MODEL_INFER, "v1") == b"reply:ping"
            assert routes.asked == [("f", None), ("f", "v1")]
            assert [m for m, _ in upstream.calls] == [MODEL_INFER, MODEL_INFER]
            assert "function-version-id" not in upstream.calls[0][1]
            assert upstream.calls[1][1]["function-version-id"] == "v1"

    asyncio.run(scenario())


def test_the_invocation_mutant_answers_model_infer_itself() -> None:
    async def scenario() -> None:
        async with _proxied(frozenset({rules.GRPC_INVOCATION})) as (channel, upstream, _):
            assert await _unary(channel, MODEL_INFER) == b""  # an empty ModelInferResponse
            assert upstream.calls == []
            # Only that: version-routed calls and other methods (health) still reach the function.
            assert await _unary(channel, MODEL_INFER, "v1") == b"reply:ping"
            assert await _unary(channel, HEALTH_CHECK) == b"reply:ping"
            assert [m for m, _ in upstream.calls] == [MODEL_INFER, HEALTH_CHECK]

    asyncio.run(scenario())


def test_the_version_mutant_ignores_function_version_id() -> None:
    async def scenario() -> None:
        async with _proxied(frozenset({rules.GRPC_VERSION_METADATA})) as (channel, upstream, routes):
            assert await _unary(channel, MODEL_INFER, "v1") == b"reply:ping"
            assert routes.asked == [("f", None)]
            assert "function-version-id" not in upstream.calls[0][1]
            assert upstream.calls[0][1]["function-id"] == "f"

    asyncio.run(scenario())


# ── gRPC health gate mutant ───────────────────────────────────────────────────────────────────


def test_not_serving_is_unhealthy_unless_the_health_mutant_takes_any_answer() -> None:
    async def scenario() -> None:
        server = grpc.aio.server()
        servicer = health.HealthServicer()
        servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            strict = await check_grpc(port, 5)
            lax = await check_grpc(port, 5, any_status=True)
            servicer.set("", health_pb2.HealthCheckResponse.SERVING)
            serving = await check_grpc(port, 5)
        finally:
            await server.stop(None)
        assert not strict.ok and "NOT_SERVING" in strict.detail
        assert lax.ok and "NOT_SERVING" in lax.detail
        assert serving.ok

    asyncio.run(scenario())


# ── image pulls on the KWOK data plane ────────────────────────────────────────────────────────


class _Secrets:
    def __init__(self, *secrets: dict[str, Any]) -> None:
        self.secrets = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in secrets}
        self.reads: list[str] = []

    async def config_map(self, namespace: str, name: str) -> dict[str, Any] | None:
        return None

    async def secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.reads.append(name)
        return self.secrets.get((namespace, name))


def _docker_secret(name: str, auths: dict[str, Any], key: str = ".dockerconfigjson") -> dict[str, Any]:
    payload = json.dumps({"auths": auths} if key == ".dockerconfigjson" else auths).encode()
    return {"metadata": {"name": name, "namespace": "ns"}, "data": {key: base64.b64encode(payload).decode()}}


def _pod(image: str = IMAGE, secrets: tuple[str, ...] = (), init_image: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "mini-service", "image": image}],
                            "imagePullSecrets": [{"name": s} for s in secrets]}
    if init_image:
        spec["initContainers"] = [{"name": "setup", "image": init_image}]
    return {"metadata": {"name": "mini-service-1", "namespace": "ns"}, "spec": spec}


def _problem(pod: dict[str, Any], source: _Secrets) -> str | None:
    return asyncio.run(pull_problem(pod, source, [PRIVATE]))


@pytest.mark.parametrize(("image", "registry"), [
    (IMAGE, PRIVATE), ("localhost/x:1", "localhost"), ("nvcf-conformance/mini-service:0.1.0", None),
    ("nginx", None), ("ghcr.io/a/b@sha256:00", "ghcr.io"),
])
def test_the_registry_of_an_image(image: str, registry: str | None) -> None:
    assert registry_of(image) == registry


def test_the_reference_pull_secret_authorises_its_registry() -> None:
    auth = RegistryAuth(PRIVATE, "user", "secret")
    source = _Secrets(pull_secret_manifest("nvcf-reference-pull-secret", "ns", [auth]))
    assert _problem(_pod(secrets=("chart-secret-not-there", "nvcf-reference-pull-secret")), source) is None


def test_a_private_image_without_a_pull_secret_cannot_be_pulled() -> None:
    problem = _problem(_pod(), _Secrets())
    assert problem is not None and "ErrImagePull" in problem and f'"{IMAGE}"' in problem
    assert "no imagePullSecrets" in problem


@pytest.mark.parametrize("secrets", [
    _Secrets(),  # named, but not in the namespace
    _Secrets(_docker_secret("pull", {"other.example:5000": {"auth": "eDp5"}})),
    _Secrets({"metadata": {"name": "pull", "namespace": "ns"}, "data": {"token": "eA=="}}),
])
def test_a_pull_secret_that_holds_nothing_for_the_registry_does_not_help(secrets: _Secrets) -> None:
    problem = _problem(_pod(secrets=("pull",)), secrets)
    assert problem is not None and "none of its imagePullSecrets (pull)" in problem


@pytest.mark.parametrize("secret", [
    _docker_secret("pull", {f"https://{PRIVATE}/v1/": {"auth": "eDp5"}}),
    _docker_secret("pull", {PRIVATE: {"username": "x", "password": "y"}}, key=".dockercfg"),
])
def test_any_docker_config_form_for_the_registry_authorises_it(secret: dict[str, Any]) -> None:
    assert _problem(_pod(secrets=("pull",)), _Secrets(secret)) is None


def test_init_containers_are_pulled_too_and_public_images_need_nothing() -> None:
    source = _Secrets()
    assert _problem(_pod(image="docker.io/library/nginx:1.27"), source) is None
    assert _problem(_pod(image="nvcf-conformance/mini-service:0.1.0"), source) is None
    assert source.reads == []  # nothing private: no Secret is read
    problem = _problem(_pod(image="docker.io/library/nginx:1.27", init_image=IMAGE), source)
    assert problem is not None and "container setup" in problem


def test_no_private_registry_configured_means_no_check() -> None:
    assert asyncio.run(pull_problem(_pod(), _Secrets(), [])) is None


def test_credential_hosts_ignores_what_is_not_a_docker_config() -> None:
    assert credential_hosts({".dockerconfigjson": "not json"}) == set()
    assert credential_hosts({".dockerconfigjson": json.dumps({"auths": {"A.example": {"auth": "x"}}})}) == {
        "a.example"}


# ── on the KWOK cluster ───────────────────────────────────────────────────────────────────────


@pytest.fixture(scope="module")
def private_chart(rb_registry: RegistryEndpoint, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chart]:
    """minimal-http with its image in the embedded registry (the one the back half has credentials for)."""
    out = tmp_path_factory.mktemp("rb-private")
    cases = load_cases(["minimal-http"])
    built = pipeline.build(cases, "rb", out, image=naming.probe_image(rb_registry.address))
    (pushed,) = push.push(built.charts, rb_registry, out, repository="rb-private")
    yield Chart(cases[0], pushed)


@pytest.mark.env
def test_a_private_image_deploys_with_the_injected_pull_secret_and_fails_without(
    make_backend: Callable[..., Backend], private_chart: Chart, rb_registry: RegistryEndpoint, leave_behind: Leave
) -> None:
    image = naming.probe_image(rb_registry.address)
    honest = make_backend()
    mutant = make_backend(violate=frozenset({rules.PULL_SECRETS_ALL_PODS}))
    good, bad = function_for(private_chart), function_for(private_chart)

    async def scenario() -> None:
        served = Progress(honest.deployer, good, deployment_for(good))
        refused = Progress(mutant.deployer, bad, deployment_for(bad))
        assert (await served.settle()).status == "ACTIVE", served.updates
        error = await refused.settle()
        assert error.status == "ERROR", refused.updates
        assert "ErrImagePull" in (error.reason or "") and f'"{image}"' in (error.reason or ""), error.reason
        assert mutant.data_plane.running_pids() == []
        await served.stop()
        await leave_behind(honest, good)
        await leave_behind(mutant, bad)

    asyncio.run(scenario())


@pytest.mark.env
def test_the_health_mutant_goes_active_while_grpc_health_is_not_serving(
    make_backend: Callable[..., Backend], charts: dict[str, Chart], leave_behind: Leave
) -> None:
    delay = 6.0
    configuration = {"miniService": {"env": [{"name": "MINI_SERVICE_READY_DELAY", "value": str(delay)}]}}
    honest = make_backend()
    mutant = make_backend(violate=frozenset({rules.GRPC_HEALTH_GATES_ACTIVE}))
    good, bad = function_for(charts["grpc"]), function_for(charts["grpc"])

    async def health_of(backend: Backend, function: FunctionVersion) -> str:
        route = backend.data_plane.grpc_route(function.function_id)
        assert route.status == "ok" and route.address, route
        result = await check_grpc(int(route.address.rsplit(":", 1)[1]), 5)
        return result.detail

    async def scenario() -> None:
        gated = Progress(honest.deployer, good, deployment_for(good, configuration=configuration))
        early = Progress(mutant.deployer, bad, deployment_for(bad, configuration=configuration))
        assert (await early.settle()).status == "ACTIVE", early.updates
        assert "answered NOT_SERVING" in await health_of(mutant, bad)
        assert (await gated.settle()).status == "ACTIVE", gated.updates
        assert gated.time_of("ACTIVE") >= delay
        assert "answered SERVING" in await health_of(honest, good)
        for progress in (gated, early):
            await progress.stop()
        await leave_behind(honest, good)
        await leave_behind(mutant, bad)

    asyncio.run(scenario())
