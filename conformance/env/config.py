"""The embedded environment's settings: registry, cluster name and the fake node shape.

Defaults give one CPU node, two L40S nodes with 1 GPU and two B200 nodes with 8 GPUs each. A YAML
file (`env up --config FILE`) overrides any part; a wrong field is a ConfigError naming file and field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from conformance.errors import ConfigError

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|M|G|T)?$")


@dataclass(frozen=True)
class NodeGroup:
    """`count` identical fake nodes. `gpu_product` is the short name used in instance types (L40S)."""

    name: str
    count: int
    gpus: int = 0
    gpu_product: str = ""
    cpu: str = "32"
    memory: str = "256Gi"
    pods: int = 110

    @property
    def product_label(self) -> str:
        # GPU feature discovery labels nodes like "NVIDIA-L40S"; instance types use the short name.
        return f"NVIDIA-{self.gpu_product}" if self.gpu_product else ""


def default_nodes() -> tuple[NodeGroup, ...]:
    return (
        NodeGroup("cpu", 1),
        NodeGroup("l40s", 2, gpus=1, gpu_product="L40S"),
        NodeGroup("b200", 2, gpus=8, gpu_product="B200"),
    )


@dataclass(frozen=True)
class EnvConfig:
    cluster_name: str = "nvcf-conformance"
    registry_port: int = 0  # 0: pick a free port on 127.0.0.1
    registry_username: str = "conformance"
    nodes: tuple[NodeGroup, ...] = field(default_factory=default_nodes)
    start_timeout: float = 120.0
    # The reference NVCF server: on by default (it is the embedded default target); extra arguments
    # for `reference serve`, e.g. ["--violate", "KIND-FORBIDDEN"] to start a mutant.
    reference: bool = True
    reference_args: tuple[str, ...] = ()


_TOP_KEYS = {"clusterName", "registry", "nodes", "startTimeoutSeconds", "reference"}
_REFERENCE_KEYS = {"enabled", "args"}
_REGISTRY_KEYS = {"port", "username"}
_NODE_KEYS = {"name", "count", "gpus", "gpuProduct", "cpu", "memory", "pods"}


def load_config(path: Path | None) -> EnvConfig:
    """Defaults, overridden by the YAML file at `path` (when given)."""
    if path is None:
        return EnvConfig()
    where = str(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read the environment config: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark else ""
        raise ConfigError(f"{where}: not valid YAML{line}") from None
    if raw is None:
        return EnvConfig()
    data = _mapping(raw, where, "(top level)", _TOP_KEYS)
    base = EnvConfig()
    cluster = data.get("clusterName", base.cluster_name)
    if not isinstance(cluster, str) or not _NAME.match(cluster):
        raise ConfigError(f"{where}: clusterName: must be a lower-case DNS label, got {cluster!r}")
    registry = _mapping(data.get("registry", {}), where, "registry", _REGISTRY_KEYS)
    port = registry.get("port", base.registry_port)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ConfigError(f"{where}: registry.port: must be an integer 0-65535, got {port!r}")
    username = registry.get("username", base.registry_username)
    if not isinstance(username, str) or not re.match(r"^[A-Za-z0-9._-]{1,64}$", username):
        raise ConfigError(f"{where}: registry.username: must be 1-64 of [A-Za-z0-9._-], got {username!r}")
    timeout = data.get("startTimeoutSeconds", base.start_timeout)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
        raise ConfigError(f"{where}: startTimeoutSeconds: must be a positive number, got {timeout!r}")
    nodes = base.nodes
    if "nodes" in data:
        nodes = _nodes(data["nodes"], where)
    ref = _mapping(data.get("reference", {}), where, "reference", _REFERENCE_KEYS)
    enabled = ref.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{where}: reference.enabled: must be true or false, got {enabled!r}")
    args = ref.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise ConfigError(f"{where}: reference.args: must be a list of strings")
    return EnvConfig(cluster_name=cluster, registry_port=port, registry_username=username, nodes=nodes,
                     start_timeout=float(timeout), reference=enabled, reference_args=tuple(args))


def _nodes(raw: Any, where: str) -> tuple[NodeGroup, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{where}: nodes: must be a non-empty list of node groups")
    groups: list[NodeGroup] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        at = f"nodes[{i}]"
        node = _mapping(item, where, at, _NODE_KEYS)
        name = node.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(f"{where}: {at}.name: must be a lower-case DNS label, got {name!r}")
        if name in seen:
            raise ConfigError(f"{where}: {at}.name: duplicate node group {name!r}")
        seen.add(name)
        count = _int(node.get("count", 1), where, f"{at}.count", 1, 50)
        gpus = _int(node.get("gpus", 0), where, f"{at}.gpus", 0, 16)
        product = node.get("gpuProduct", "")
        if not isinstance(product, str) or (product and not re.match(r"^[A-Z0-9][A-Za-z0-9]*$", product)):
            raise ConfigError(f"{where}: {at}.gpuProduct: must be a GPU name like L40S or B200, got {product!r}")
        if gpus and not product:
            raise ConfigError(f"{where}: {at}.gpuProduct: required when gpus > 0")
        cpu = _quantity(node.get("cpu", "32"), where, f"{at}.cpu")
        memory = _quantity(node.get("memory", "256Gi"), where, f"{at}.memory")
        pods = _int(node.get("pods", 110), where, f"{at}.pods", 1, 1000)
        groups.append(NodeGroup(name, count, gpus, product, cpu, memory, pods))
    return tuple(groups)


def _mapping(raw: Any, where: str, at: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: {at}: must be a mapping, got {type(raw).__name__}")
    unknown = sorted(set(raw) - allowed)
    if unknown:
        prefix = "" if at == "(top level)" else f"{at}."
        raise ConfigError(f"{where}: {prefix}{unknown[0]}: unknown field (known: {', '.join(sorted(allowed))})")
    return raw


def _int(value: Any, where: str, at: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"{where}: {at}: must be an integer {low}-{high}, got {value!r}")
    return value


def _quantity(value: Any, where: str, at: str) -> str:
    text = str(value)
    if not _QUANTITY.match(text):
        raise ConfigError(f"{where}: {at}: not a Kubernetes quantity: {value!r}")
    return text
