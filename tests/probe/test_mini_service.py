"""The mini-service probe as a real process on 127.0.0.1, driven over real HTTP and gRPC sockets."""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from mini_service import inference_v2_pb2 as pb
from mini_service import inference_v2_pb2_grpc as pb_grpc
from mini_service import launch

HOST = "127.0.0.1"
START_TIMEOUT = 15.0
POD_ENV = {
    "POD_NAME": "mini-0",
    "POD_NAMESPACE": "fn-ns",
    "NODE_NAME": "kwok-node-0",
    "POD_IP": "10.1.2.3",
}
SECRET_ENV = {"NGC_API_KEY": "nvapi-should-not-leak", "db_password": "hunter2"}
PLAIN_ENV = {"FUNCTION_GREETING": "hello"}


@dataclass
class Probe:
    proc: subprocess.Popen[str]
    http_port: int
    grpc_port: int
    stderr_path: Path

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    @property
    def grpc_target(self) -> str:
        return f"{HOST}:{self.grpc_port}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _wait_ready_line(proc: subprocess.Popen[str], stderr_path: Path) -> tuple[int | None, int | None]:
    assert proc.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while (remaining := deadline - time.monotonic()) > 0:
            if not selector.select(remaining):
                break
            line = proc.stdout.readline()
            if not line:  # EOF: the probe died before announcing itself
                break
            ports = launch.parse_ready_line(line)
            if ports is not None:
                return ports
    raise AssertionError(f"probe did not become ready; stderr: {stderr_path.read_text()!r}")


def _stop(proc: subprocess.Popen[str]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
            raise
    return proc.returncode


@contextlib.contextmanager
def _run_probe(tmp: Path, *extra_args: str, values_dir: Path | None = None) -> Iterator[Probe]:
    http_port, grpc_port = _free_port(), _free_port()
    argv = [
        *launch.command(sys.executable),
        "--host", HOST,
        "--http-port", str(http_port),
        "--grpc-port", str(grpc_port),
        "--values-dir", str(values_dir or tmp / "no-such-values"),
        *extra_args,
    ]  # fmt: skip
    env = launch.environment({**POD_ENV, **SECRET_ENV, **PLAIN_ENV})
    stderr_path = tmp / f"probe-{http_port}.stderr"
    with stderr_path.open("w") as stderr:
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        announced = _wait_ready_line(proc, stderr_path)
        assert announced == (http_port, grpc_port)
        yield Probe(proc, http_port, grpc_port, stderr_path)
    finally:
        with contextlib.suppress(Exception):
            _stop(proc)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture(scope="module")
def values_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("values")
    (root / "values.yaml").write_text(
        "inference:\n  model:\n    name: echo\n    replicas: 2\n  tags: [a, b]\n"
    )
    (root / "extra.json").write_text('{"flag": true}')
    (root / "notes.txt").write_text("just: [unbalanced\n")
    # Mimics the bookkeeping entries a ConfigMap volume carries; they must not show up as values.
    (root / "..data").mkdir()
    return root


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory, values_dir: Path) -> Iterator[Probe]:
    with _run_probe(tmp_path_factory.mktemp("probe"), "--model", "echo,other", values_dir=values_dir) as p:
        yield p


@pytest.fixture
def http(probe: Probe) -> Iterator[httpx.Client]:
    # trust_env=False: a proxy configured on the host must never see loopback test traffic.
    with httpx.Client(base_url=probe.base_url, timeout=5.0, trust_env=False) as client:
        yield client


def _channel(target: str) -> grpc.Channel:
    return grpc.insecure_channel(target, options=[("grpc.enable_http_proxy", 0)])


@pytest.fixture
def channel(probe: Probe) -> Iterator[grpc.Channel]:
    with _channel(probe.grpc_target) as ch:
        yield ch


# ---- HTTP ---------------------------------------------------------------------------------------


def test_health_ready_and_live(http: httpx.Client) -> None:
    for path in ("/v2/health/ready", "/v2/health/live"):
        response = http.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == "application/json"


def test_server_and_model_metadata(http: httpx.Client) -> None:
    assert http.get("/v2").json()["name"] == "mini-service"
    meta = http.get("/v2/models/echo/versions/7").json()
    assert meta["name"] == "echo" and meta["versions"] == ["7"]
    assert http.get("/v2/models/other/ready").json() == {"name": "other", "ready": True}


def test_v2_infer_echo_round_trip(http: httpx.Client) -> None:
    inputs = [
        {"name": "INPUT0", "datatype": "INT32", "shape": [2, 2], "data": [1, 2, 3, 4]},
        {"name": "TEXT", "datatype": "BYTES", "shape": [1], "data": ["héllo"]},
    ]
    response = http.post(
        "/v2/models/echo/versions/3/infer", json={"id": "req-42", "inputs": inputs}, headers={"X-Trace": "t1"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == "echo"
    assert body["model_version"] == "3"
    assert body["id"] == "req-42"
    assert body["outputs"] == inputs
    assert body["parameters"]["metadata.x-trace"] == "t1"


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'{"inputs": "nope"}', b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": "2"}]}'],
)
def test_malformed_infer_is_400(http: httpx.Client, content: bytes) -> None:
    response = http.post("/v2/models/echo/infer", content=content)
    assert response.status_code == 400
    assert isinstance(response.json()["error"], str)


def test_unknown_model_and_path_are_404(http: httpx.Client) -> None:
    infer = http.post("/v2/models/missing/infer", json={"inputs": []})
    assert infer.status_code == 404 and "error" in infer.json()
    assert http.get("/v2/models/missing").status_code == 404
    other = http.get("/definitely/not/here")
    assert other.status_code == 404 and "error" in other.json()


def test_echo_returns_raw_body(http: httpx.Client) -> None:
    payload = bytes(range(256)) * 8
    response = http.post("/echo", content=payload, headers={"Content-Type": "application/octet-stream"})
    assert response.status_code == 200 and response.content == payload


def test_chunked_request_body_is_read(http: httpx.Client) -> None:
    # A generator body makes httpx send Transfer-Encoding: chunked, as some proxies do.
    chunks = [b"abc", b"", b"defgh", b"x" * 5000]
    response = http.post("/echo", content=iter(chunks))
    assert response.status_code == 200 and response.content == b"".join(chunks)


def test_probe_reports_headers_pod_and_env(http: httpx.Client) -> None:
    sent = {"NVCF-REQID": "req-abc", "Function-Id": "fn-1", "Authorization": "Bearer s3cr3t"}
    response = http.post("/probe/anything?a=1&a=2", content=b"12345", headers=sent)
    assert response.status_code == 200
    seen = response.json()
    assert seen["method"] == "POST"
    assert seen["path"] == "/probe/anything"
    assert seen["query"] == {"a": ["1", "2"]}
    assert seen["headers"]["nvcf-reqid"] == "req-abc"
    assert seen["headers"]["authorization"] == "***"
    assert "s3cr3t" not in json.dumps(seen)
    assert seen["headers"]["function-id"] == "fn-1"
    assert seen["body_bytes"] == 5
    assert seen["pod"] == {"name": "mini-0", "namespace": "fn-ns", "node": "kwok-node-0", "ip": "10.1.2.3"}
    assert seen["env"]["FUNCTION_GREETING"] == "hello"
    assert seen["env"]["NGC_API_KEY"] == "***"
    assert seen["env"]["db_password"] == "***"
    assert "nvapi-should-not-leak" not in response.text and "hunter2" not in response.text
    assert seen["args"][:2] == ["--host", HOST]
    assert seen["uid"] == os.getuid()


def test_probe_reports_values(http: httpx.Client) -> None:
    values = http.get("/probe").json()["values"]
    assert values["values.yaml"] == {
        "inference": {"model": {"name": "echo", "replicas": 2}, "tags": ["a", "b"]}
    }
    assert values["extra.json"] == {"flag": True}
    assert values["notes.txt"] == "just: [unbalanced\n"
    assert "..data" not in values


# ---- gRPC ---------------------------------------------------------------------------------------


def test_grpc_model_infer_echo_with_metadata(channel: grpc.Channel) -> None:
    stub = pb_grpc.GRPCInferenceServiceStub(channel)
    request = pb.ModelInferRequest(model_name="echo", id="g-1")
    tensor = request.inputs.add(name="INPUT0", datatype="FP32", shape=[3])
    tensor.contents.fp32_contents.extend([1.5, 2.5, 3.5])
    tensor.parameters["p"].int64_param = 9
    raw = request.inputs.add(name="RAW", datatype="UINT8", shape=[4])
    request.raw_input_contents.append(b"\x00\x01\x02\x03")
    del raw  # filled through raw_input_contents, not contents

    response = stub.ModelInfer(
        request,
        metadata=[("function-id", "fn-123"), ("nvcf-reqid", "r-9"), ("authorization", "Bearer nope")],
        timeout=5,
    )
    assert response.model_name == "echo" and response.model_version == "1" and response.id == "g-1"
    assert [(o.name, o.datatype, list(o.shape)) for o in response.outputs] == [
        ("INPUT0", "FP32", [3]),
        ("RAW", "UINT8", [4]),
    ]
    assert list(response.outputs[0].contents.fp32_contents) == [1.5, 2.5, 3.5]
    assert response.outputs[0].parameters["p"].int64_param == 9
    assert list(response.raw_output_contents) == [b"\x00\x01\x02\x03"]
    assert response.parameters["metadata.function-id"].string_param == "fn-123"
    assert response.parameters["metadata.nvcf-reqid"].string_param == "r-9"
    assert "metadata.authorization" not in response.parameters


def test_grpc_unknown_model_is_not_found(channel: grpc.Channel) -> None:
    stub = pb_grpc.GRPCInferenceServiceStub(channel)
    with pytest.raises(grpc.RpcError) as info:
        stub.ModelInfer(pb.ModelInferRequest(model_name="missing"), timeout=5)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_grpc_server_live_ready_and_health(channel: grpc.Channel) -> None:
    stub = pb_grpc.GRPCInferenceServiceStub(channel)
    assert stub.ServerLive(pb.ServerLiveRequest(), timeout=5).live is True
    assert stub.ServerReady(pb.ServerReadyRequest(), timeout=5).ready is True
    assert stub.ModelReady(pb.ModelReadyRequest(name="other"), timeout=5).ready is True
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "inference.GRPCInferenceService"):
        status = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status
        assert status == health_pb2.HealthCheckResponse.SERVING


# ---- lifecycle ----------------------------------------------------------------------------------


def test_ready_delay_gives_503_then_200_and_sigterm_exits_0(tmp_path: Path) -> None:
    delay = 1.5
    with _run_probe(tmp_path, "--ready-delay", str(delay)) as probe:
        started = time.monotonic()
        with httpx.Client(base_url=probe.base_url, timeout=5.0, trust_env=False) as client:
            assert client.get("/v2/health/live").status_code == 200
            assert client.get("/v2/health/ready").status_code == 503
            with _channel(probe.grpc_target) as ch:
                health = health_pb2_grpc.HealthStub(ch)
                status = health.Check(health_pb2.HealthCheckRequest(), timeout=5).status
                assert status == health_pb2.HealthCheckResponse.NOT_SERVING

                while client.get("/v2/health/ready").status_code != 200:
                    assert time.monotonic() - started < delay + 5, "never became ready"
                    time.sleep(0.1)
                assert time.monotonic() - started >= delay - 0.5
                status = health.Check(health_pb2.HealthCheckRequest(), timeout=5).status
                assert status == health_pb2.HealthCheckResponse.SERVING
        assert _stop(probe.proc) == 0


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["--no-such-flag"], {}, "--no-such-flag"),
        (["--http-port", "70000"], {}, "70000"),
        ([], {"MINI_SERVICE_READY_DELAY": "soon"}, "soon"),
    ],
)
def test_bad_config_exits_2_with_one_line(args: list[str], env: dict[str, str], needle: str) -> None:
    result = subprocess.run(
        [*launch.command(sys.executable), *args],
        env=launch.environment(env),
        capture_output=True,
        text=True,
        timeout=15,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mini-service: error:") and needle in lines[0]
    assert "Traceback" not in result.stderr


def test_port_in_use_exits_1_with_one_line() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind((HOST, 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [*launch.command(sys.executable), "--host", HOST, "--http-port", str(port), "--grpc-port", "0"],
            env=launch.environment(),
            capture_output=True,
            text=True,
            timeout=15,
        )
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_launch_helpers() -> None:
    assert launch.command("py") == ["py", "-m", "mini_service"]
    assert (launch.PACKAGE_DIR / "mini_service" / "__main__.py").is_file()
    assert launch.parse_ready_line("mini-service ready http=8000 grpc=off\n") == (8000, None)
    assert launch.parse_ready_line("something else") is None
    env = launch.environment({"A": "1"}, base={"PYTHONPATH": "/x"})
    assert env == {"A": "1", "PYTHONPATH": f"{launch.PACKAGE_DIR}{os.pathsep}/x"}


def test_probe_answers_with_requested_status_and_delay(http: httpx.Client) -> None:
    import time

    started = time.monotonic()
    response = http.get("/probe?status=418&delay=0.5")
    assert response.status_code == 418
    assert time.monotonic() - started >= 0.5
    assert response.json()["query"]["status"] == ["418"]
    assert http.get("/probe?status=99").status_code == 400
    assert http.get("/probe?delay=61").status_code == 400


def test_infer_delay_parameter_answers_late(http: httpx.Client) -> None:
    import time

    body = {"inputs": [{"name": "x", "datatype": "INT32", "shape": [1], "data": [1]}],
            "parameters": {"delay_seconds": 0.5}}
    started = time.monotonic()
    response = http.post("/v2/models/echo/infer", json=body)
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.5
    body["parameters"] = {"delay_seconds": "soon"}
    assert http.post("/v2/models/echo/infer", json=body).status_code == 400


def test_answers_are_signed_with_the_configured_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    from mini_service.echo_model import IDENTITY_ENV, answer_parameters

    pairs = [("nvcf-function-version-id", "v-2"), ("authorization", "Bearer nope")]
    monkeypatch.delenv(IDENTITY_ENV, raising=False)
    assert answer_parameters(pairs) == {"metadata.nvcf-function-version-id": "v-2"}
    monkeypatch.setenv(IDENTITY_ENV, "second")
    assert answer_parameters(pairs) == {"metadata.nvcf-function-version-id": "v-2", "served-by": "second"}


def test_probe_lists_the_marks_of_requests_it_received(http: httpx.Client) -> None:
    # A mark is recorded when the request arrives, whatever its route or outcome.
    http.post("/v2/models/echo/infer", content=b"not json", headers={"X-Probe-Mark": "first"})
    http.get("/no/such/route", headers={"X-Probe-Mark": "second"})
    marks = http.get("/probe").json()["marks"]
    assert marks[-2:] == ["first", "second"]
    assert "never-sent" not in marks
