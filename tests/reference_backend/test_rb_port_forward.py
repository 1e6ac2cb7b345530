"""The port-forward data plane: its TCP relay on its own, and the whole plane through a real API server.

The integration test starts a KWOK cluster of its own with kwok's PortForward custom resources on.
Its one fake node's addresses are 127.0.0.1, so the API server's port-forward reaches the kwok
controller (the node's "kubelet"), which dials what a PortForward rule names: a mini-service probe
this test runs on loopback. No pod IP is ever dialled.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from kubernetes import client, config, dynamic

from reference.backend.cluster.kube import Kube
from reference.backend.cluster.readiness import is_ready_pod, observe
from reference.backend.data_plane_choice import decide, is_kwok_node
from reference.backend.invocation.grpc_proxy import GrpcProxy
from reference.backend.kwok.probes import ProbeLaunch, ProbeProcess, load_probe_modules
from reference.backend.portforward.dataplane import PortForwardDataPlane
from reference.backend.portforward.tcp_relay import TcpRelay
from reference.backend.serve_options import add_arguments
from reference.backend.settings import BackendSettings
from reference.ports import ForwardRequest, FunctionVersion

PROBE_IMAGE = "nvcf-conformance/mini-service:0.1.0"
NODE = "pf-0"

# ── the relay, against a local echo server ────────────────────────────────────────────────────


class EchoServer:
    """Echoes every connection's bytes; closes its side once the peer has sent EOF."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, f"connection ended after {len(data)} of {size} bytes"
        data += chunk
    return data


def test_relay_carries_bytes_both_ways_for_concurrent_connections(echo: EchoServer) -> None:
    relay = TcpRelay(lambda: socket.create_connection(("127.0.0.1", echo.port)), name="echo").start()
    try:
        assert relay.host == "127.0.0.1"
        conns = [socket.create_connection(("127.0.0.1", relay.port), timeout=5) for _ in range(3)]
        big = bytes(range(256)) * 4096  # 1 MiB: more than one chunk, so the pump loops
        for i, conn in enumerate(conns):
            conn.sendall(f"hello {i}".encode())
        for i, conn in enumerate(conns):
            assert _recv_exactly(conn, len(f"hello {i}")) == f"hello {i}".encode()
        sender = threading.Thread(target=conns[0].sendall, args=(big,))
        sender.start()
        assert _recv_exactly(conns[0], len(big)) == big
        sender.join()
        assert echo.accepted == 3 and relay.connections == 3
        # A half-close reaches the upstream; what it still sends comes back before the end.
        conns[1].sendall(b"last words")
        conns[1].shutdown(socket.SHUT_WR)
        assert _recv_exactly(conns[1], 10) == b"last words"
        assert conns[1].recv(10) == b""
        for conn in conns:
            conn.close()
    finally:
        relay.close()


def test_relay_close_ends_open_connections_and_stops_listening(echo: EchoServer) -> None:
    relay = TcpRelay(lambda: socket.create_connection(("127.0.0.1", echo.port)), name="echo").start()
    conn = socket.create_connection(("127.0.0.1", relay.port), timeout=5)
    conn.sendall(b"x")
    assert _recv_exactly(conn, 1) == b"x"
    relay.close()
    assert conn.recv(10) == b""
    conn.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", relay.port), timeout=2).close()


def test_relay_reports_an_upstream_it_cannot_reach() -> None:
    def refuse() -> socket.socket:
        raise ConnectionRefusedError("nobody home")

    relay = TcpRelay(refuse, name="nowhere").start()
    try:
        with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as conn:
            assert conn.recv(10) == b""
        deadline = time.monotonic() + 5
        while relay.last_error is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert relay.last_error == "ConnectionRefusedError: nobody home"
    finally:
        relay.close()


# ── which data plane ──────────────────────────────────────────────────────────────────────────


def _node(annotations: dict[str, str] | None = None, labels: dict[str, str] | None = None,
          kubelet: str = "v1.36.1") -> dict[str, Any]:
    return {"metadata": {"name": "n", "annotations": annotations or {}, "labels": labels or {}},
            "status": {"nodeInfo": {"kubeletVersion": kubelet}}}


def test_auto_picks_kwok_local_only_when_every_node_is_a_kwok_node() -> None:
    kwok = _node({"kwok.x-k8s.io/node": "fake"})
    real = _node()
    assert is_kwok_node(kwok) and is_kwok_node(_node(labels={"type": "kwok"}))
    assert is_kwok_node(_node(kubelet="kwok-v0.8.0")) and not is_kwok_node(real)
    assert decide("auto", [kwok, kwok]) == "kwok-local"
    assert decide("auto", [kwok, real]) == "port-forward"
    assert decide("auto", []) == "kwok-local"
    assert decide("port-forward", [kwok]) == "port-forward"
    assert decide("kwok-local", [real]) == "kwok-local"
    with pytest.raises(ValueError):
        decide("docker", [])


def test_serve_has_a_data_plane_option_defaulting_to_auto() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert parser.parse_args([]).data_plane == "auto"
    assert parser.parse_args(["--data-plane", "port-forward"]).data_plane == "port-forward"
    with pytest.raises(SystemExit):
        parser.parse_args(["--data-plane", "pod-ip"])


# ── the plane through a KWOK cluster's API server ─────────────────────────────────────────────


@pytest.fixture(scope="module")
def pf_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A KWOK cluster with PortForward rules as custom resources and one node the API server reaches."""
    from conformance.env.cluster import KwokCluster
    from conformance.env.config import EnvConfig

    home = tmp_path_factory.mktemp("pf-cluster")
    cluster = KwokCluster(home, EnvConfig(cluster_name=f"rb-pf-{uuid.uuid4().hex[:6]}", nodes=()),
                          enable_crds=("PortForward", "ClusterPortForward"))
    try:
        cluster.create()
        core = cluster.api()
        # The API server dials a node at its address (Hostname first): 127.0.0.1 leads to the kwok
        # controller's port, which kwok writes into the node's daemonEndpoints.
        core.create_node({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": NODE, "annotations": {"kwok.x-k8s.io/node": "fake"},
                         "labels": {"type": "kwok", "kubernetes.io/hostname": NODE}},
            "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                                     {"type": "Hostname", "address": "127.0.0.1"}]},
        })
        _wait(lambda: any(c.type == "Ready" and c.status == "True"
                          for c in core.read_node(NODE).status.conditions or []), 60, "the node Ready")
        yield cluster.kubeconfig
    finally:
        cluster.delete()


def _wait(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def probes(tmp_path: Path) -> Iterator[dict[str, ProbeProcess]]:
    """Two mini-service probes on loopback, standing in for two pods' containers."""
    modules = load_probe_modules()
    started: dict[str, ProbeProcess] = {}
    for name in ("a", "b"):
        launch = ProbeLaunch(
            namespace="pf", pod=f"probe-{name}", pod_uid=name, node=NODE, container="mini-service",
            image=PROBE_IMAGE, args=(), env={"POD_NAME": f"probe-{name}"},
            pod_http_port=8000, pod_grpc_port=8001, values_dir=tmp_path / name / "values", workdir=tmp_path / name,
        )
        proc = ProbeProcess(launch, modules)
        proc.start()
        started[name] = proc
    try:
        for proc in started.values():
            _wait(lambda p=proc: p.poll() != "starting", 20, "a probe")
            assert proc.state == "up", proc.failure()
        yield started
    finally:
        for proc in started.values():
            proc.stop()


def _workload(ns: str) -> tuple[dict[str, Any], dict[str, Any]]:
    labels = {"app": "mini-service"}
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "mini-service", "namespace": ns},
        "spec": {"replicas": 2, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"nodeSelector": {"kubernetes.io/hostname": NODE}, "containers": [{
                "name": "mini-service", "image": PROBE_IMAGE,
                "ports": [{"name": "http", "containerPort": 8000}, {"name": "grpc", "containerPort": 8001}],
            }]},
        }},
    }
    service = {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "mini-service", "namespace": ns},
        "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": "http"},
                                               {"name": "grpc", "port": 8001, "targetPort": 8001}]},
    }
    return deployment, service


def _function(**changes: Any) -> FunctionVersion:
    fields: dict[str, Any] = {
        "function_id": str(uuid.uuid4()), "version_id": str(uuid.uuid4()), "name": "pf",
        "inference_url": "/echo", "inference_port": 80,
        "health": {"protocol": "HTTP", "uri": "/v2/health/ready", "port": 80, "timeout": "PT5S",
                   "expectedStatusCode": 200},
        "helm_chart_service_name": "mini-service",
    }
    fields.update(changes)
    return FunctionVersion(**fields)


class Cluster:
    def __init__(self, kubeconfig: Path, ns: str) -> None:
        self.api_client = config.new_client_from_config(str(kubeconfig))
        self.core = client.CoreV1Api(self.api_client)
        self.ns = ns
        self.rules = dynamic.DynamicClient(self.api_client).resources.get(
            api_version="kwok.x-k8s.io/v1alpha1", kind="PortForward")

    def ready_pods(self, want: int) -> list[dict[str, Any]]:
        def ready() -> list[dict[str, Any]] | None:
            pods = [self.api_client.sanitize_for_serialization(p) for p in
                    self.core.list_namespaced_pod(self.ns).items if p.metadata.deletion_timestamp is None]
            found = [p for p in pods if is_ready_pod(p)]
            return found if len(found) == want else None

        return sorted(_wait(ready, 60, f"{want} ready pods"), key=lambda p: p["metadata"]["name"])

    def forward_rule(self, pod: str, probe: ProbeProcess) -> None:
        """kwok's rule: a port-forward to `pod` reaches the probe's listeners on loopback."""
        self.rules.create(namespace=self.ns, body={
            "apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "PortForward",
            "metadata": {"name": pod, "namespace": self.ns},
            "spec": {"forwards": [
                {"ports": [8000], "target": {"address": "127.0.0.1", "port": probe.http_port}},
                {"ports": [8001], "target": {"address": "127.0.0.1", "port": probe.grpc_port}},
            ]},
        })


async def _sync_until(plane: PortForwardDataPlane, function: FunctionVersion, ns: str, service: dict[str, Any],
                      pods: list[dict[str, Any]], healthy: int, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await plane.sync(function, ns, service, pods)
        if len(result.healthy) == healthy or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.3)


def _probe_request(function: FunctionVersion) -> ForwardRequest:
    return ForwardRequest("GET", "/probe", "", (("NVCF-FUNCTION-ID", function.function_id),
                                                ("NVCF-REQID", "req-1")), b"")


@pytest.mark.env
@pytest.mark.slow
def test_invocations_reach_pods_through_the_api_servers_port_forward(
    pf_cluster: Path, probes: dict[str, ProbeProcess], tmp_path: Path
) -> None:
    ns = f"pf-{uuid.uuid4().hex[:6]}"
    cluster = Cluster(pf_cluster, ns)
    cluster.core.create_namespace({"metadata": {"name": ns}})
    deployment, service = _workload(ns)
    client.AppsV1Api(cluster.api_client).create_namespaced_deployment(ns, deployment)
    cluster.core.create_namespaced_service(ns, service)
    pod_a, pod_b = cluster.ready_pods(2)
    name_a, name_b = pod_a["metadata"]["name"], pod_b["metadata"]["name"]
    cluster.forward_rule(name_a, probes["a"])
    cluster.forward_rule(name_b, probes["b"])
    settings = BackendSettings(kubeconfig=pf_cluster, workdir=tmp_path / "backend")
    plane = PortForwardDataPlane(settings, cluster.api_client.configuration)
    http_fn = _function()
    grpc_fn = _function(inference_url="/gRPC", inference_port=8001,
                        health={"protocol": "gRPC", "port": 8001, "timeout": "PT5S"})

    async def scenario() -> None:
        from mini_service import inference_v2_pb2 as pb
        from mini_service import inference_v2_pb2_grpc as pb_grpc

        # What the deployer hands the plane: the Service and the pods behind its EndpointSlices.
        kube = Kube(pf_cluster)
        try:
            snapshot = await observe(kube, ns, "mini-service")
            while len(snapshot.ready_endpoint_pods()) < 2:
                await asyncio.sleep(0.2)
                snapshot = await observe(kube, ns, "mini-service")
        finally:
            kube.close()
        assert [p["metadata"]["name"] for p in snapshot.ready_endpoint_pods()] == [name_a, name_b]
        assert snapshot.service is not None
        result = await _sync_until(plane, http_fn, ns, snapshot.service, snapshot.ready_endpoint_pods(), healthy=2)
        assert [i.health for i in result.instances] == ["healthy", "healthy"], result
        assert all(a.startswith("127.0.0.1:") for a in plane.listeners())
        # HTTP: the named target port leads to container port 8000; both pods take turns.
        seen = set()
        for _ in range(4):
            answer = await plane.forward(http_fn, _probe_request(http_fn))
            assert answer.status == 200, answer.body
            facts = json.loads(answer.body)
            assert facts["headers"]["nvcf-function-id"] == http_fn.function_id
            assert facts["client"] == "127.0.0.1"  # the kwok controller dialled the probe on loopback
            seen.add(facts["pod"]["name"])
        assert seen == {"probe-a", "probe-b"}
        echo = await plane.forward(http_fn, ForwardRequest("POST", "/echo", "", (), b"\x00\x01" * 50_000))
        assert echo.status == 200 and echo.body == b"\x00\x01" * 50_000

        # gRPC: the gRPC proxy routes by function-id metadata to the port-forward listener.
        result = await _sync_until(plane, grpc_fn, ns, service, [pod_a, pod_b], healthy=2)
        assert len(result.healthy) == 2, result
        assert plane.grpc_route(http_fn.function_id).status == "not_grpc"
        proxy = GrpcProxy(plane)  # type: ignore[arg-type]
        port = await proxy.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = pb_grpc.GRPCInferenceServiceStub(channel)
                request = pb.ModelInferRequest(model_name="echo", id="pf-1", raw_input_contents=[b"\x07"])
                request.inputs.add(name="x", datatype="BYTES", shape=[1])
                reply = await stub.ModelInfer(request, metadata=(("function-id", grpc_fn.function_id),), timeout=10)
                assert reply.id == "pf-1" and reply.raw_output_contents == [b"\x07"]
                params = {k: v.string_param for k, v in reply.parameters.items()}
                assert params["metadata.nvcf-function-id"] == grpc_fn.function_id
        finally:
            await proxy.stop()
        await plane.release(grpc_fn.version_id)

        # Pod a goes away (its container with it): calls still succeed, on pod b, before any sync.
        probes["a"].stop()
        cluster.core.delete_namespaced_pod(name_a, ns, grace_period_seconds=0)
        _wait(lambda: name_a not in {p.metadata.name for p in cluster.core.list_namespaced_pod(ns).items},
              30, f"pod {name_a} gone")
        for _ in range(4):
            answer = await plane.forward(http_fn, _probe_request(http_fn))
            assert answer.status == 200, answer.body
            assert json.loads(answer.body)["pod"]["name"] == "probe-b"

        # Its replacement has no port-forward rule yet: it is not healthy, and kwok's reason shows.
        pod_b2, replacement = sorted(cluster.ready_pods(2), key=lambda p: p["metadata"]["name"] != name_b)
        result = await plane.sync(http_fn, ns, service, [pod_b2, replacement])
        state = {i.pod: i for i in result.instances}
        assert state[name_b].health == "healthy"
        assert state[replacement["metadata"]["name"]].health == "unhealthy"
        assert "forward" in (state[replacement["metadata"]["name"]].detail or ""), state
        cluster.forward_rule(replacement["metadata"]["name"], probes["b"])
        result = await _sync_until(plane, http_fn, ns, service, [pod_b2, replacement], healthy=2)
        assert len(result.healthy) == 2, result

        listeners = plane.listeners()
        await plane.close()
        for address in listeners:
            with pytest.raises(OSError):
                socket.create_connection(("127.0.0.1", int(address.rsplit(":", 1)[1])), timeout=2).close()

    try:
        asyncio.run(asyncio.wait_for(scenario(), 180))
    finally:
        plane.stop_all_now()
        cluster.core.delete_namespace(ns)
        cluster.api_client.close()
