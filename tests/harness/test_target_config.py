"""Target config: layering (embedded < file < env < overrides), routing, one-line errors, redaction."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from conformance.errors import ConfigError
from conformance.target.config import GpuShape, load_target

BASE = {"NVCF_GATEWAY_ADDR": "10.0.0.1:8080", "NVCF_TOKEN": "env-token-123"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "target.yaml"
    path.write_text(text)
    return path


def no_state() -> dict[str, Any]:
    raise AssertionError("the embedded state must not be read when an endpoint is configured")


def test_file_then_env_then_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, """
implementation: {name: acme-nvcf, version: "2.1"}
nvcf: {gateway: file-gw:80, token: file-token-1}
timeouts: {deploy_active: 60}
deployment: {gpu: H100}
""")
    target = load_target(path, environ={"NVCF_TOKEN": "env-token-2", "NVCF_TIMEOUT_DEPLOY_ACTIVE": "90"},
                         overrides={"timeouts": {"deploy_active": 120}}, load_state=no_state)
    assert target.implementation == "acme-nvcf" and target.implementation_version == "2.1"
    assert target["nvcf.gateway"] == "file-gw:80"  # only in the file
    assert target.token == "env-token-2"  # env beats file
    assert target.timeout("deploy_active") == 120.0  # overrides beat env
    assert target.sources["nvcf.token"] == "$NVCF_TOKEN"
    assert target.sources["timeouts.deploy_active"] == "--set"
    assert target.deployment_spec()["instanceType"] == "ON-PREM.GPU.H100_1x"


def test_dotted_overrides_and_none_ignored() -> None:
    target = load_target(environ=BASE, overrides={"nvcf.token": "flag-token", "kubeconfig": None}, load_state=no_state)
    assert target.token == "flag-token"
    assert target.kubeconfig is None


def test_self_hosted_routing_by_host_header() -> None:
    target = load_target(environ=BASE, load_state=no_state)
    assert target.self_hosted
    assert target.api.base_url == "http://10.0.0.1:8080" and target.api.host == "api.10.0.0.1:8080"
    route = target.passthrough("fid", "vid")
    assert route.base_url == "http://10.0.0.1:8080" and route.host == "vid.fid.invocation.10.0.0.1:8080"
    assert target.api_key == "env-token-123"  # the token serves when no API key is configured
    # pexec is served by the invocation service, as NVIDIA's gateway routes it (its API host 404s it).
    assert target.pexec.base_url == "http://10.0.0.1:8080" and target.pexec.host == "invocation.10.0.0.1:8080"


def test_pexec_on_the_api_host_when_the_target_says_so() -> None:
    target = load_target(environ={**BASE, "NVCF_PEXEC_HOST": "api"}, load_state=no_state)
    assert target.pexec.host == "api.10.0.0.1:8080"
    with pytest.raises(ConfigError, match=r"nvcf\.pexec_host: expected one of invocation, api"):
        load_target(environ={**BASE, "NVCF_PEXEC_HOST": "gateway"}, load_state=no_state)


def test_gateway_domain_override() -> None:
    target = load_target(environ={**BASE, "NVCF_GATEWAY_DOMAIN": "nvcf.example"}, load_state=no_state)
    assert target.api.host == "api.nvcf.example"
    assert target.passthrough("f").host == "f.invocation.nvcf.example"


def test_hosted_plain_urls() -> None:
    env = {"NVCF_API_URL": "https://api.ngc.example", "NVCF_INVOKE_URL": "https://api.nvcf.example/",
           "NVCF_TOKEN": "t0ken-abc", "NVCF_GRPC_ADDR": "grpc.nvcf.example:443"}
    target = load_target(environ=env, load_state=no_state)
    assert not target.self_hosted
    assert target.api.host is None and target.api.base_url == "https://api.ngc.example"
    assert target.pexec.base_url == "https://api.nvcf.example"
    assert target.passthrough("f").base_url == "https://f.invocation.api.nvcf.example"
    assert target.grpc_tls


def test_embedded_state_is_the_default() -> None:
    state = {
        "nvcf": {"gateway": "127.0.0.1:7000", "token": "emb-token-1", "api_key": "emb-key-1", "grpc": "127.0.0.1:7001"},
        "registry": {"address": "127.0.0.1:5000", "username": "u", "password": "emb-pass-1"},
        "nodes": [{"group": "cpu", "count": 1, "gpus": 0, "gpuProduct": ""},
                  {"group": "l40s", "count": 2, "gpus": 1, "gpuProduct": "L40S"},
                  {"group": "b200", "count": 2, "gpus": 8, "gpuProduct": "B200"}],
    }
    target = load_target(environ={}, load_state=lambda: state)
    assert target.sources["nvcf.gateway"] == "embedded environment"
    assert target.push_registry == ("127.0.0.1:5000", "u", "emb-pass-1")
    assert target.gpu_shapes == (GpuShape("L40S", 1, 2), GpuShape("B200", 8, 2))
    assert target.multinode_shape() == GpuShape("B200", 8, 2)
    assert target.deployment_spec()["instanceType"] == "ON-PREM.GPU.L40S_1x"


def test_env_beats_embedded_state_entirely_when_it_names_an_endpoint() -> None:
    target = load_target(environ=BASE, load_state=no_state)
    assert target["registry.address"] is None


@pytest.mark.parametrize(
    ("text", "env", "needle"),
    [
        ("nvcf: {gateway: gw:1, token: t0ken}\nbogus: 1\n", {}, "unknown key 'bogus'"),
        ("nvcf: {gateway: gw:1, token: t0ken}\ntimeouts: {invoke: soon}\n", {}, "timeouts.invoke: expected a number"),
        ("nvcf: {gateway: gw:1}\n", {}, "no NVCF token configured"),
        ("nvcf: {api_url: ftp://x, token: t0ken}\n", {}, "nvcf.api_url: expected an http(s):// URL"),
        ("nvcf: [1, 2]\n", {}, "nvcf: expected a mapping"),
        ("nvcf: {gateway: [1], token: t0ken}\n", {}, "nvcf.gateway: expected a string"),
        ("nvcf: {gateway: gw:1, token: t0ken}\nprofiles: [gold]\n", {}, "unknown profile 'gold'"),
        ("nvcf: {gateway: gw:1, token: t0ken}\n", {"NVCF_GRPC_TLS": "maybe"}, "$NVCF_GRPC_TLS: nvcf.grpc_tls"),
        ("nvcf: {gateway: gw:1, token: t0ken}\nkubeconfig: /nonexistent/kc\n", {}, "does not exist"),
        ("nvcf: {gateway: gw:1, token: t0ken}\ngpu_shapes: [{gpu: B200, nodes: 2}]\n", {}, "gpus_per_node"),
        ("nvcf: {gateway: gw:1, token: t0ken\n", {}, "invalid YAML"),
    ],
)
def test_errors_are_one_line_naming_the_key(tmp_path: Path, text: str, env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_target(write(tmp_path, text), environ=env, load_state=no_state)
    message = str(caught.value)
    assert needle in message and "\n" not in message


def test_secret_values_never_appear_in_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "nvcf: {gateway: gw:1, token: [super-secret-value]}\n")
    with pytest.raises(ConfigError) as caught:
        load_target(path, environ={}, load_state=no_state)
    assert "super-secret-value" not in str(caught.value)


def test_missing_file_and_missing_target() -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_target("/nonexistent/target.yaml", environ={}, load_state=no_state)

    def down() -> dict[str, Any]:
        from conformance.errors import ConformanceError

        raise ConformanceError("no embedded environment is running")

    with pytest.raises(ConfigError, match="env up"):
        load_target(environ={}, load_state=down)
    with pytest.raises(ConfigError, match="runs no NVCF server"):
        load_target(environ={}, load_state=lambda: {"nvcf": None})


def test_redacted_view_hides_every_secret() -> None:
    env = {**BASE, "NVCF_API_KEY": "key-abc-999", "NVCF_REGISTRY": "reg:5000", "NVCF_REGISTRY_USERNAME": "u",
           "NVCF_REGISTRY_PASSWORD": "pw-xyz-777", "NVCF_API_URL": "https://user:pw-in-url-1@api.example"}
    target = load_target(environ=env, load_state=no_state)
    text = repr(target.redacted())
    for secret in ("env-token-123", "key-abc-999", "pw-xyz-777", "pw-in-url-1"):
        assert secret not in text
    assert target.redacted()["nvcf.token"] == "***"
    assert set(target.secrets()) >= {"env-token-123", "key-abc-999", "pw-xyz-777"}


def test_instance_type_names_are_free_text_unless_the_grammar_is_declared(tmp_path: Path) -> None:
    from suites._helpers import instance_parts, malformed_instance_type

    # NVIDIA's statically configured clusters name instance types freely: that is no fault of the backend.
    env = {**BASE, "NVCF_INSTANCE_TYPE": "gl40_1.br20_2xlarge", "NVCF_GPU": "L40"}
    target = load_target(environ=env, load_state=no_state)
    assert target.deployment_spec()["instanceType"] == "gl40_1.br20_2xlarge"
    assert instance_parts(target) == {"csp": "ON-PREM", "gpu": "L40", "n": "1", "nodes": None}
    assert malformed_instance_type(target, "no-gpu-count") == "ON-PREM.GPU.L40"
    with pytest.raises(ConfigError, match=r"is not <CSP>\.GPU\.<GPU>_<n>x"):
        load_target(environ={**env, "NVCF_INSTANCE_TYPE_GRAMMAR": "true"}, load_state=no_state)


def test_gpu_shapes_may_name_their_instance_types(tmp_path: Path) -> None:
    path = write(tmp_path, """
nvcf: {gateway: gw:1, token: t0ken}
gpu_shapes: [{gpu: B200, gpus_per_node: 8, nodes: 2, instance_types: {1: b200-full, 2: b200-pair}}]
""")
    shape = load_target(path, environ={}, load_state=no_state).gpu_shapes[0]
    assert shape.instance_type("DGXC") == "b200-full" and shape.instance_type("DGXC", nodes=2) == "b200-pair"
    assert shape.instance_type("DGXC", nodes=2, gpus=4) == "DGXC.GPU.B200_4x.x2"  # only whole nodes are named


def test_workers_follow_the_backend_not_the_cpus(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`auto` is I/O-bound (2 per CPU, 4 to 8); -n wins over NVCF_WORKERS, which wins over the default."""
    from conformance.run.cli import io_workers, resolve_workers
    from conformance.target.config import parse_settings

    assert [io_workers(c) for c in (1, 2, 3, 16)] == [4, 4, 6, 8]
    monkeypatch.setenv("NVCF_GATEWAY_ADDR", "127.0.0.1:9")
    monkeypatch.setenv("NVCF_TOKEN", "t" * 16)
    assert resolve_workers("3", None) == "3"
    assert resolve_workers(None, None) == str(io_workers())
    monkeypatch.setenv("NVCF_WORKERS", "2")
    assert resolve_workers(None, None) == "2"
    assert resolve_workers("auto", None) == str(io_workers())
    assert resolve_workers(None, None, parse_settings(["run.workers=5"])) == "5"  # --set is the top layer here too
    monkeypatch.setenv("NVCF_WORKERS", "many")
    with pytest.raises(ConfigError, match=r"run\.workers"):
        resolve_workers(None, None)


def test_a_small_selection_starts_no_more_workers_than_items() -> None:
    from conformance.run.cli import capped_workers, selected_items
    from conformance.run_facts import Selection

    assert selected_items(Selection()) is None
    assert selected_items(Selection(("FN-CREATE-HELM",))) == 1
    assert selected_items(Selection(("KIND-FORBIDDEN",), ("kind-forbidden-daemonset",))) == 1
    assert selected_items(Selection(("KIND-FORBIDDEN",))) == 17
    assert [capped_workers("4", n) for n in (None, 1, 2, 17)] == ["4", "0", "2", "4"]
    assert capped_workers("0", 3) == "0" and capped_workers("auto", 1) == "auto"


def test_set_flags_are_the_top_layer_and_never_secrets() -> None:
    from conformance.target.config import parse_settings

    settings = parse_settings(["nvcf.gateway=flag-gw:81", "timeouts.deploy-active=30"])
    target = load_target(environ={**BASE, "NVCF_TIMEOUT_DEPLOY_ACTIVE": "90"}, overrides=settings,
                         load_state=no_state)
    assert target["nvcf.gateway"] == "flag-gw:81" and target.timeout("deploy_active") == 30.0
    assert target.sources["nvcf.gateway"] == "--set"
    for bad, words in (("nvcf.token=abc", "$NVCF_TOKEN"), ("registry.password=x", "secret"),
                       ("no.such=1", "not a target config key"), ("nvcf.gateway", "expected KEY=VALUE")):
        with pytest.raises(ConfigError, match=re.escape(words)):
            parse_settings([bad])
