"""The target under test: which NVCF implementation, how to reach it, and how long to wait for it.

Layers, lowest first; a later layer replaces single keys of an earlier one:

    1. the embedded environment's state (`nvcf-conformance env up`), used only when no layer above
       names an NVCF endpoint
    2. a YAML file (`--target-config`)
    3. environment variables (`NVCF_GATEWAY_ADDR`, `NVCF_TOKEN`, ... see `KEYS`)
    4. flags: `run --set KEY=VALUE` / `preflight --set` (any key but a secret; `parse_settings`), given
       to the loader as overrides, dotted keys or nested

Every key is declared once in `KEYS` with its type, environment variable, default and meaning, so the
loader, the error messages, `redacted()` and the docs cannot drift apart. A wrong value is one
`ConfigError` line naming the layer and the key, raised before any test runs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from conformance.errors import ConfigError, ConformanceError

REDACTED = "***"
DEFAULT_CSP = "ON-PREM"
PEXEC_HOSTS = ("invocation", "api")
GRPC_INFERENCE_URLS = ("auto", "/gRPC", "/grpc")


@dataclass(frozen=True)
class Key:
    """One configuration key: its type, where it may come from and what it means."""

    kind: str  # str | int | float | bool | list | shapes
    env: str | None
    default: Any
    doc: str
    secret: bool = False


# Timeouts are seconds. The defaults follow NVIDIA's cluster-agent limits (pod scheduling 10 min) with
# room to spare, so a slow but working backend is not reported as broken.
KEYS: Mapping[str, Key] = {
    "implementation.name": Key("str", "NVCF_IMPLEMENTATION", None, "name of the implementation under test"),
    "implementation.version": Key("str", "NVCF_IMPLEMENTATION_VERSION", None, "its version"),
    "nvcf.gateway": Key(
        "str", "NVCF_GATEWAY_ADDR", None,
        "self-hosted gateway host:port (or http[s]://host:port); routing by Host header api.<gw> / "
        "<function-id>.invocation.<gw>",
    ),
    "nvcf.gateway_domain": Key(
        "str", "NVCF_GATEWAY_DOMAIN", None, "the <gw> of the Host headers (default: the gateway address)"
    ),
    "nvcf.api_url": Key("str", "NVCF_API_URL", None, "plain management URL of a hosted target"),
    "nvcf.invoke_url": Key("str", "NVCF_INVOKE_URL", None, "plain pexec URL (default: the API URL)"),
    "nvcf.pexec_host": Key(
        "str", "NVCF_PEXEC_HOST", "invocation",
        "self-hosted: the Host pexec and its status polls go to, `invocation` (invocation.<gw>, as NVIDIA's "
        "gateway routes them) or `api` (api.<gw>, for a backend that serves pexec beside management)",
    ),
    "nvcf.grpc": Key("str", "NVCF_GRPC_ADDR", None, "gRPC invocation endpoint host:port"),
    "nvcf.grpc_tls": Key("bool", "NVCF_GRPC_TLS", None, "TLS for gRPC (default: on for port 443 only)"),
    "nvcf.grpc_inference_url": Key(
        "str", "NVCF_GRPC_INFERENCE_URL", "auto",
        "the inferenceUrl that makes a helm function gRPC for the gRPC rules other than GRPC-URL-MARKS-FUNCTION: "
        "/gRPC (the docs), /grpc (NVIDIA's code), or auto (detected once per run from health.protocol)",
    ),
    "nvcf.token": Key("str", "NVCF_TOKEN", None, "management bearer token", secret=True),
    "nvcf.api_key": Key("str", "NVCF_API_KEY", None, "invocation bearer key (default: the token)", secret=True),
    "registry.address": Key(
        "str", "NVCF_REGISTRY", None, "OCI registry host:port as the backend sees it (goes into helmChart)"
    ),
    "registry.username": Key("str", "NVCF_REGISTRY_USERNAME", None, "registry user"),
    "registry.password": Key("str", "NVCF_REGISTRY_PASSWORD", None, "registry password", secret=True),
    "registry.push_address": Key(
        "str", "NVCF_REGISTRY_PUSH_ADDR", None, "registry host:port the harness pushes to (default: address)"
    ),
    "registry.push_username": Key("str", "NVCF_REGISTRY_PUSH_USERNAME", None, "push user (default: username)"),
    "registry.push_password": Key(
        "str", "NVCF_REGISTRY_PUSH_PASSWORD", None, "push password (default: password)", secret=True
    ),
    "registry.repository": Key(
        "str", "NVCF_REGISTRY_REPOSITORY", None, "repository under the registry (default nvcf-conformance/<run id>)"
    ),
    "registry.plain_http": Key("bool", "NVCF_REGISTRY_PLAIN_HTTP", None, "push over plain HTTP (default: loopback)"),
    "kubeconfig": Key("str", "KUBECONFIG", None, "kubeconfig of the backend's cluster; enables white-box checks"),
    "profiles": Key("list", "NVCF_PROFILES", [], "optional profiles the implementation claims (comma-separated)"),
    "deployment.gpu": Key("str", "NVCF_GPU", "L40S", "GPU of single-node deployments"),
    "deployment.instance_type": Key(
        "str", "NVCF_INSTANCE_TYPE", None, "single-node instance type (default <CSP>.GPU.<gpu>_1x)"
    ),
    "deployment.csp": Key("str", "NVCF_CSP", DEFAULT_CSP, "the <CSP> part of instance types the harness builds"),
    "deployment.instance_type_grammar": Key(
        "bool", "NVCF_INSTANCE_TYPE_GRAMMAR", False,
        "the backend names every instance type `<CSP>.GPU.<GPU>_<n>x[.x<nodes>]` (default: names are free text, "
        "as on statically configured NVIDIA clusters; the configured type is then used as given)",
    ),
    "deployment.backend": Key("str", "NVCF_BACKEND", None, "legacy `backend` of deployment specifications"),
    "deployment.clusters": Key("list", "NVCF_CLUSTERS", [], "`clusters` of deployment specifications"),
    "deployment.min_instances": Key("int", None, 1, "minInstances of test deployments"),
    "deployment.max_instances": Key("int", None, 1, "maxInstances of test deployments"),
    "gpu_shapes": Key(
        "shapes", None, [],
        "GPU node shapes the backend offers: [{gpu, gpus_per_node, nodes, instance_types?}] (multi-node cases); "
        "instance_types maps a node count to the backend's name for a type of that many whole nodes",
    ),
    "run.workers": Key(
        "str", "NVCF_WORKERS", "auto",
        "parallel workers of `run` without -n: a number, or auto (the suites wait on the backend, not on local "
        "CPUs: two per CPU, at least 4, at most 8); lower it for a backend with quotas",
    ),
    "timeouts.http": Key("float", "NVCF_TIMEOUT_HTTP", 30.0, "one HTTP request to the API"),
    "timeouts.create": Key("float", "NVCF_TIMEOUT_CREATE", 120.0, "function creation (may pull the chart)"),
    "timeouts.deploy_active": Key("float", "NVCF_TIMEOUT_DEPLOY_ACTIVE", 900.0, "deployment until ACTIVE"),
    "timeouts.deploy_error": Key(
        "float", "NVCF_TIMEOUT_DEPLOY_ERROR", 900.0, "a refused chart's deployment until ERROR"
    ),
    "timeouts.undeploy": Key("float", "NVCF_TIMEOUT_UNDEPLOY", 300.0, "deployment removal until INACTIVE"),
    "timeouts.invoke": Key("float", "NVCF_TIMEOUT_INVOKE", 120.0, "one invocation, polling included"),
    "timeouts.poll_interval": Key(
        "float", "NVCF_POLL_INTERVAL", 2.0, "the longest pause between status polls (they start at 0.2 s and back off)"
    ),
    "timeouts.cleanup_retry": Key(
        "float", "NVCF_TIMEOUT_CLEANUP_RETRY", 60.0,
        "how long the end-of-run cleanup keeps retrying a target that does not answer (a restart)",
    ),
    "timeouts.ready_delay": Key(
        "float", "NVCF_READY_DELAY", 20.0,
        "how long the mini-service stays unready in the readiness-gating tests: long enough that an early ACTIVE "
        "is seen before it ends (the embedded environment, which polls within a second, uses 5)",
    ),
    "timeouts.busy_hold": Key(
        "float", "NVCF_BUSY_HOLD", 10.0,
        "how long the call that keeps the only instance busy takes in the unclaimed-call (504) test: long enough "
        "that the second call's 1-s window closes and its 504 arrives before the instance frees (the embedded "
        "environment, which answers 504 as the window closes, uses 4)",
    ),
    "timeouts.cluster": Key("float", "NVCF_TIMEOUT_CLUSTER", 120.0, "waiting for cluster objects (white-box)"),
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


INSTANCE_TYPE_GRAMMAR = re.compile(r"^(?P<csp>[^.]+)\.GPU\.(?P<gpu>[^_]+)_(?P<n>\d+)x(?:\.x(?P<nodes>\d+))?$")


@dataclass(frozen=True)
class GpuShape:
    """A kind of GPU node the backend offers: `nodes` of them with `gpus_per_node` GPUs each.

    `instance_types` holds the backend's own names for types of N whole nodes, as (N, name) pairs,
    for backends whose names do not follow the documented grammar.
    """

    gpu: str
    gpus_per_node: int
    nodes: int
    instance_types: tuple[tuple[int, str], ...] = ()

    def instance_type(self, csp: str, nodes: int = 1, gpus: int | None = None) -> str:
        """The backend's name for `nodes` whole nodes when it gave one, else `<CSP>.GPU.<gpu>_<n>x[.x<nodes>]`."""
        named = dict(self.instance_types)
        if gpus is None and nodes in named:
            return named[nodes]
        n = self.gpus_per_node if gpus is None else gpus
        return f"{csp}.GPU.{self.gpu}_{n}x" + (f".x{nodes}" if nodes > 1 else "")


@dataclass(frozen=True)
class Endpoint:
    """Where one kind of request goes: a base URL and, for self-hosted gateways, the Host to send."""

    base_url: str
    host: str | None = None


@dataclass(frozen=True)
class TargetConfig:
    values: Mapping[str, Any]
    sources: Mapping[str, str] = field(default_factory=dict)  # key → the layer it came from

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    # ── identity ──
    @property
    def implementation(self) -> str:
        return self.values["implementation.name"] or "unknown"

    @property
    def implementation_version(self) -> str:
        return self.values["implementation.version"] or "unknown"

    # ── routing ──
    @property
    def self_hosted(self) -> bool:
        return self.values["nvcf.gateway"] is not None and self.values["nvcf.api_url"] is None

    @property
    def gateway_domain(self) -> str:
        explicit = self.values["nvcf.gateway_domain"]
        if explicit:
            return str(explicit)
        gateway = str(self.values["nvcf.gateway"] or "")
        return urlsplit(_with_scheme(gateway)).netloc

    @property
    def api(self) -> Endpoint:
        if self.values["nvcf.api_url"]:
            return Endpoint(str(self.values["nvcf.api_url"]).rstrip("/"))
        return Endpoint(_with_scheme(str(self.values["nvcf.gateway"])).rstrip("/"), f"api.{self.gateway_domain}")

    @property
    def pexec(self) -> Endpoint:
        """Where pexec and `/pexec/status` go. Self-hosted NVCF serves them from its invocation service
        (`invocation.<gw>`); its API host only has a stub that answers 404."""
        if self.values["nvcf.invoke_url"]:
            return Endpoint(str(self.values["nvcf.invoke_url"]).rstrip("/"))
        if self.self_hosted and self.values["nvcf.pexec_host"] == "invocation":
            return Endpoint(self.api.base_url, f"invocation.{self.gateway_domain}")
        return self.api

    def passthrough(self, function_id: str, version_id: str | None = None) -> Endpoint:
        """Host-routed invocation: `[<vid>.]<fid>.invocation.<gw>` (or the hosted equivalent URL)."""
        prefix = f"{version_id}.{function_id}" if version_id else function_id
        if self.self_hosted:
            base = _with_scheme(str(self.values["nvcf.gateway"])).rstrip("/")
            return Endpoint(base, f"{prefix}.invocation.{self.gateway_domain}")
        parts = urlsplit(self.pexec.base_url)
        return Endpoint(f"{parts.scheme}://{prefix}.invocation.{parts.netloc}")

    @property
    def grpc_address(self) -> str | None:
        return self.values["nvcf.grpc"]

    @property
    def grpc_tls(self) -> bool:
        explicit = self.values["nvcf.grpc_tls"]
        if explicit is not None:
            return bool(explicit)
        address = self.values["nvcf.grpc"] or ""
        return address.endswith(":443")

    # ── credentials ──
    @property
    def token(self) -> str:
        return str(self.values["nvcf.token"])

    @property
    def api_key(self) -> str:
        return str(self.values["nvcf.api_key"] or self.values["nvcf.token"])

    def secrets(self) -> list[str]:
        """Every secret value configured, for the transcript redactor."""
        return [str(v) for k, v in self.values.items() if KEYS[k].secret and v]

    # ── registry ──
    @property
    def registry_address(self) -> str | None:
        return self.values["registry.address"]

    @property
    def push_registry(self) -> tuple[str, str, str] | None:
        """(address, username, password) the harness pushes charts with, or None when not configured."""
        address = self.values["registry.push_address"] or self.values["registry.address"]
        user = self.values["registry.push_username"] or self.values["registry.username"]
        password = self.values["registry.push_password"] or self.values["registry.password"]
        if not (address and user and password is not None):
            return None
        return str(address), str(user), str(password)

    # ── cluster / profiles / deployment ──
    @property
    def kubeconfig(self) -> str | None:
        return self.values["kubeconfig"]

    @property
    def profiles(self) -> tuple[str, ...]:
        return tuple(self.values["profiles"])

    @property
    def gpu_shapes(self) -> tuple[GpuShape, ...]:
        return tuple(self.values["gpu_shapes"])

    def deployment_spec(self, **overrides: Any) -> dict[str, Any]:
        """One `deploymentSpecifications[]` entry with the configured defaults; keyword args win."""
        gpu = str(self.values["deployment.gpu"])
        spec: dict[str, Any] = {
            "gpu": gpu,
            "instanceType": _instance_type(self.values),
            "minInstances": self.values["deployment.min_instances"],
            "maxInstances": self.values["deployment.max_instances"],
        }
        if self.values["deployment.backend"]:
            spec["backend"] = self.values["deployment.backend"]
        if self.values["deployment.clusters"]:
            spec["clusters"] = list(self.values["deployment.clusters"])
        spec.update(overrides)
        return spec

    def multinode_shape(self) -> GpuShape | None:
        """A shape with at least two nodes (for `.x<N>` types), the one with most GPUs per node first."""
        shapes = sorted((s for s in self.gpu_shapes if s.nodes >= 2), key=lambda s: -s.gpus_per_node)
        return shapes[0] if shapes else None

    def timeout(self, name: str) -> float:
        return float(self.values[f"timeouts.{name}"])

    def redacted(self) -> dict[str, Any]:
        """The effective configuration for reports: secrets shown only as set or not."""
        out: dict[str, Any] = {}
        for key, value in self.values.items():
            if KEYS[key].secret:
                value = REDACTED if value else None
            elif key == "gpu_shapes":
                value = [{**s.__dict__, "instance_types": dict(s.instance_types)} for s in value]
            elif key == "nvcf.gateway" or key.endswith("_url") or key.endswith("address"):
                value = _strip_userinfo(value)
            out[key] = value
        out["sources"] = dict(self.sources)
        return out


def _instance_type(values: Mapping[str, Any]) -> str:
    """The configured single-node instance type, or one GPU of `deployment.gpu` in the documented grammar."""
    return str(values["deployment.instance_type"] or f"{values['deployment.csp']}.GPU.{values['deployment.gpu']}_1x")


def _with_scheme(address: str) -> str:
    return address if "://" in address else f"http://{address}"


def _strip_userinfo(value: Any) -> Any:
    if not isinstance(value, str) or "@" not in value:
        return value
    return re.sub(r"//[^/@]*@", "//***@", value)


# ── layers ──────────────────────────────────────────────────────────────────────────────────────────


def flatten(data: Mapping[str, Any], where: str, prefix: str = "") -> dict[str, Any]:
    """Nested or dotted mapping → dotted keys; unknown keys are an error naming `where`."""
    out: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = f"{prefix}{str(raw_key).replace('-', '_')}"
        if key in KEYS:
            out[key] = value
        elif any(k.startswith(key + ".") for k in KEYS):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}: {key}: expected a mapping of {key}.* keys, got {type(value).__name__}")
            out.update(flatten(value, where, key + "."))
        else:
            known = sorted({k.split(".")[0] for k in KEYS})
            raise ConfigError(f"{where}: unknown key '{key}' (known: {', '.join(known)}; see conformance/target)")
    return out


def file_layer(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: the target config file does not exist") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the target config: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: invalid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: a target config is a YAML mapping (see conformance/target/config.py)")
    return flatten(data, str(path))


SETTINGS_HELP = ("a target config key, above the file and the environment (repeatable), e.g. nvcf.gateway=HOST:PORT; "
                 "secrets are refused here: give them through the environment or the file")


def parse_settings(pairs: Sequence[str] | None) -> dict[str, str]:
    """`--set KEY=VALUE` flags → {key: value}, the top layer of a target config.

    Secret keys are refused: a command line is visible to every process of the machine and is recorded
    in the run's meta file, so tokens and passwords come from the environment or the file.
    """
    settings: dict[str, str] = {}
    for pair in pairs or ():
        key, eq, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not eq or not key:
            raise ConfigError(f"--set {pair!r}: expected KEY=VALUE, e.g. nvcf.gateway=127.0.0.1:8080")
        spec = KEYS.get(key)
        if spec is None:
            raise ConfigError(f"--set {key}: not a target config key (see KEYS in conformance/target/config.py)")
        if spec.secret:
            raise ConfigError(f"--set {key}: a secret is not taken from the command line; set ${spec.env} "
                              "or put it in the target config file")
        settings[key] = value.strip()
    return settings


def env_layer(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Values from the environment and, per key, the variable that gave it."""
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for key, spec in KEYS.items():
        if spec.env and environ.get(spec.env, "").strip():
            values[key] = environ[spec.env].strip()
            origin[key] = f"${spec.env}"
    return values, origin


# What the reference on the embedded cluster lets a target config assume or shorten; the embedded layer
# and the mutant and soak targets (which point at a reference of their own) all take it from here.
REFERENCE_TUNING: Mapping[str, Any] = {
    # It names its instance types by the documented grammar (and refuses others).
    "deployment.instance_type_grammar": True,
    # Its pods are ready within a second of creation and its status is polled from 0.2 s on: an ACTIVE
    # before the mini-service is ready shows within a 5 s readiness delay.
    "timeouts.ready_delay": 5.0,
    # It answers a call no instance takes up with 504 as the call's 1-s window closes.
    "timeouts.busy_hold": 4.0,
}


def embedded_layer(load_state: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The embedded environment's endpoints, credentials, kubeconfig and GPU nodes."""
    try:
        state = load_state()
    except ConformanceError as exc:
        raise ConfigError(
            "no NVCF target is configured and the embedded environment is not usable "
            f"({exc}); pass --target-config, set NVCF_GATEWAY_ADDR or NVCF_API_URL, or run `nvcf-conformance env up`"
        ) from None
    nvcf = state.get("nvcf") or {}
    if not nvcf.get("gateway"):
        raise ConfigError(
            "no NVCF target is configured and the embedded environment runs no NVCF server yet "
            "(`nvcf-conformance env status`); pass --target-config or set NVCF_GATEWAY_ADDR and NVCF_TOKEN"
        )
    values: dict[str, Any] = {
        "implementation.name": nvcf.get("implementation") or "nvcf-conformance reference",
        "implementation.version": nvcf.get("version"),
        "nvcf.gateway": nvcf.get("gateway"),
        "nvcf.token": nvcf.get("token"),
        "nvcf.api_key": nvcf.get("api_key"),
        "nvcf.grpc": nvcf.get("grpc"),
    }
    if nvcf.get("gateway_domain"):
        values["nvcf.gateway_domain"] = nvcf["gateway_domain"]
    registry = state.get("registry") or {}
    for name in ("address", "username", "password"):
        if registry.get(name):
            values[f"registry.{name}"] = registry[name]
    if state.get("kubeconfig"):
        values["kubeconfig"] = state["kubeconfig"]
    shapes = [
        {"gpu": n["gpuProduct"], "gpus_per_node": n["gpus"], "nodes": n["count"]}
        for n in state.get("nodes") or []
        if n.get("gpus") and n.get("gpuProduct")
    ]
    if shapes:
        values["gpu_shapes"] = shapes
        single = min(shapes, key=lambda s: s["gpus_per_node"])
        values["deployment.gpu"] = single["gpu"]
    values.update(REFERENCE_TUNING)
    return {k: v for k, v in values.items() if v is not None}


def _names_endpoint(values: Mapping[str, Any]) -> bool:
    return bool(values.get("nvcf.gateway") or values.get("nvcf.api_url"))


def load_target(
    path: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    load_state: Callable[[], dict[str, Any]] | None = None,
) -> TargetConfig:
    """The effective target: embedded state < file < environment < overrides, checked."""
    environ = os.environ if environ is None else environ
    layers: list[tuple[str, dict[str, Any]]] = []
    if path is not None:
        layers.append((str(path), file_layer(path)))
    env_values, env_origin = env_layer(environ)
    layers.append(("env", env_values))
    if overrides:
        given = {k: v for k, v in overrides.items() if v is not None}
        layers.append(("--set", flatten(given, "--set")))

    if not any(_names_endpoint(values) for _, values in layers):
        if load_state is None:
            from conformance.env.state import load_status

            load_state = load_status
        layers.insert(0, ("embedded environment", embedded_layer(load_state)))

    merged: dict[str, Any] = {key: spec.default for key, spec in KEYS.items()}
    sources: dict[str, str] = {}
    for name, values in layers:
        for key, value in values.items():
            where = env_origin.get(key, f"${KEYS[key].env}") if name == "env" else name
            merged[key] = _coerce(key, value, where)
            sources[key] = where
    _check(merged, sources)
    return TargetConfig(merged, sources)


def _coerce(key: str, value: Any, where: str) -> Any:
    kind = KEYS[key].kind

    def bad(expected: str) -> ConfigError:
        shown = REDACTED if KEYS[key].secret else repr(value)
        return ConfigError(f"{where}: {key}: expected {expected}, got {shown}")

    if value is None:
        return None
    if kind == "str":
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            text = str(value).strip()
            return text or None
        raise bad("a string")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise bad("true or false")
    if kind in ("int", "float"):
        try:
            number = int(value) if kind == "int" else float(value)
        except (TypeError, ValueError):
            raise bad("a number" if kind == "float" else "a whole number") from None
        if isinstance(value, bool) or number < 0 or (kind == "float" and number == 0 and key.startswith("timeouts.")):
            raise bad("a positive number")
        return number
    if kind == "list":
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        raise bad("a list of strings")
    if kind == "shapes":
        return _shapes(value, where, key)
    raise AssertionError(f"unhandled key kind {kind}")


def _shapes(value: Any, where: str, key: str) -> list[GpuShape]:
    if not isinstance(value, list):
        raise ConfigError(f"{where}: {key}: expected a list of {{gpu, gpus_per_node, nodes}}")
    shapes = []
    for index, raw in enumerate(value):
        if isinstance(raw, GpuShape):
            shapes.append(raw)
            continue
        at = f"{where}: {key}[{index}]"
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{at}: expected a mapping {{gpu, gpus_per_node, nodes}}")
        raw = {str(k).replace("-", "_"): v for k, v in raw.items()}
        raw.setdefault("gpus_per_node", raw.pop("gpusPerNode", None))
        if "instanceTypes" in raw:
            raw.setdefault("instance_types", raw.pop("instanceTypes"))
        unknown = sorted(set(raw) - {"gpu", "gpus_per_node", "nodes", "instance_types"})
        if unknown:
            raise ConfigError(f"{at}: unknown key '{unknown[0]}' (known: gpu, gpus_per_node, nodes, instance_types)")
        gpu = raw.get("gpu")
        if not isinstance(gpu, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*", gpu):
            raise ConfigError(f"{at}: gpu: expected a GPU name such as L40S, got {gpu!r}")
        numbers = {}
        for name in ("gpus_per_node", "nodes"):
            number = raw.get(name, 1 if name == "nodes" else None)
            if not isinstance(number, int) or isinstance(number, bool) or number < 1:
                raise ConfigError(f"{at}: {name}: expected a whole number of at least 1, got {number!r}")
            numbers[name] = number
        shapes.append(GpuShape(gpu, numbers["gpus_per_node"], numbers["nodes"], _named_types(raw, at)))
    return shapes


def _named_types(raw: Mapping[str, Any], at: str) -> tuple[tuple[int, str], ...]:
    named = raw.get("instance_types") or {}
    if not isinstance(named, Mapping):
        raise ConfigError(f"{at}: instance_types: expected a mapping of node count to instance type name")
    pairs = []
    for count, name in named.items():
        try:
            nodes = int(count)
        except (TypeError, ValueError):
            nodes = 0
        if nodes < 1 or not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{at}: instance_types: expected <node count>: <name>, got {count!r}: {name!r}")
        pairs.append((nodes, name.strip()))
    return tuple(sorted(pairs))


def _check(values: Mapping[str, Any], sources: Mapping[str, str]) -> None:
    def where(key: str) -> str:
        return sources.get(key, "default")

    if not _names_endpoint(values):
        raise ConfigError("no NVCF endpoint configured: set nvcf.gateway (NVCF_GATEWAY_ADDR) or nvcf.api_url")
    for key in ("nvcf.api_url", "nvcf.invoke_url"):
        url = values[key]
        if url:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConfigError(f"{where(key)}: {key}: expected an http(s):// URL, got {url!r}")
    gateway = values["nvcf.gateway"]
    if gateway:
        parts = urlsplit(_with_scheme(gateway))
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise ConfigError(f"{where('nvcf.gateway')}: nvcf.gateway: expected host:port or http(s)://host:port")
    if not values["nvcf.token"]:
        raise ConfigError("no NVCF token configured: set nvcf.token in the target config or NVCF_TOKEN")
    if values["nvcf.grpc_inference_url"] not in GRPC_INFERENCE_URLS:
        raise ConfigError(f"{where('nvcf.grpc_inference_url')}: nvcf.grpc_inference_url: expected one of "
                          f"{', '.join(GRPC_INFERENCE_URLS)}, got {values['nvcf.grpc_inference_url']!r}")
    if values["nvcf.pexec_host"] not in PEXEC_HOSTS:
        raise ConfigError(f"{where('nvcf.pexec_host')}: nvcf.pexec_host: expected one of {', '.join(PEXEC_HOSTS)}, "
                          f"got {values['nvcf.pexec_host']!r}")
    grpc = values["nvcf.grpc"]
    if grpc and not re.fullmatch(r"[^\s/:]+:\d{1,5}|\[[0-9a-fA-F:]+\]:\d{1,5}", grpc):
        raise ConfigError(f"{where('nvcf.grpc')}: nvcf.grpc: expected host:port, got {grpc!r}")
    kubeconfig = values["kubeconfig"]
    if kubeconfig and not Path(kubeconfig).expanduser().is_file():
        raise ConfigError(f"{where('kubeconfig')}: kubeconfig: {kubeconfig} does not exist")
    instance_type = _instance_type(values)
    if values["deployment.instance_type_grammar"] and not INSTANCE_TYPE_GRAMMAR.match(instance_type):
        raise ConfigError(
            f"{where('deployment.instance_type')}: deployment.instance_type: {instance_type!r} is not "
            "<CSP>.GPU.<GPU>_<n>x although deployment.instance_type_grammar says the backend uses that grammar"
        )
    if values["deployment.min_instances"] > values["deployment.max_instances"]:
        raise ConfigError(
            f"{where('deployment.min_instances')}: deployment.min_instances must not exceed deployment.max_instances"
        )
    from conformance.catalog.schema import PROFILES

    for profile in values["profiles"]:
        if profile not in PROFILES:
            known = ", ".join(PROFILES)
            raise ConfigError(f"{where('profiles')}: profiles: unknown profile '{profile}' (known: {known})")
