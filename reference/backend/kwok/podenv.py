"""A container's environment, computed from its pod the way the kubelet computes it.

`envFrom` first, then `env` in order (later entries win, `$(VAR)` refers to earlier ones), values
from the downward API (`fieldRef`, `resourceFieldRef`) and from ConfigMaps and Secrets read from
the cluster. A reference the kubelet would refuse to start the container with (a missing ConfigMap
or key that is not optional) raises ContainerConfigError with the kubelet's kind of message.
Service-link variables (`<SVC>_SERVICE_HOST`, ...) are not set: they would carry KWOK's fake IPs.
"""

from __future__ import annotations

import base64
import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from reference.charts.objects import as_dict, as_list, dig

_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_LABEL_FIELD = re.compile(r"^metadata\.(labels|annotations)\['(?P<key>[^']+)'\]$")


class ContainerConfigError(Exception):
    """The kubelet would not start this container (CreateContainerConfigError)."""


class ObjectSource(Protocol):
    async def config_map(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def secret(self, namespace: str, name: str) -> dict[str, Any] | None: ...


class _Objects:
    """ConfigMaps and Secrets of one namespace, each read at most once per computation."""

    def __init__(self, source: ObjectSource, namespace: str) -> None:
        self.source = source
        self.namespace = namespace
        self._cache: dict[tuple[str, str], dict[str, str] | None] = {}

    async def data(self, kind: str, name: str) -> dict[str, str] | None:
        key = (kind, name)
        if key not in self._cache:
            self._cache[key] = await self._load(kind, name)
        return self._cache[key]

    async def _load(self, kind: str, name: str) -> dict[str, str] | None:
        if kind == "configmap":
            obj = await self.source.config_map(self.namespace, name)
            if obj is None:
                return None
            data = {str(k): str(v) for k, v in as_dict(obj.get("data")).items()}
            for k, v in as_dict(obj.get("binaryData")).items():
                data[str(k)] = base64.b64decode(str(v)).decode("utf-8", errors="replace")
            return data
        obj = await self.source.secret(self.namespace, name)
        if obj is None:
            return None
        decoded = {str(k): base64.b64decode(str(v)).decode("utf-8", errors="replace")
                   for k, v in as_dict(obj.get("data")).items()}
        decoded.update({str(k): str(v) for k, v in as_dict(obj.get("stringData")).items()})
        return decoded


async def secret_data(source: ObjectSource, namespace: str, name: str) -> dict[str, str] | None:
    """A Secret's keys and decoded values (`data` and `stringData`), or None when it does not exist."""
    return await _Objects(source, namespace).data("secret", name)


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes `$(VAR)` expansion: `$$` is a literal `$`, unknown variables stay as written."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "$" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = text.find(")", i + 2)
                if end != -1:
                    name = text[i + 2 : end]
                    out.append(env[name] if name in env else text[i : end + 1])
                    i = end + 1
                    continue
        out.append(ch)
        i += 1
    return "".join(out)


def field_value(pod: dict[str, Any], path: str) -> str:
    simple = {
        "metadata.name": ("metadata", "name"),
        "metadata.namespace": ("metadata", "namespace"),
        "metadata.uid": ("metadata", "uid"),
        "spec.nodeName": ("spec", "nodeName"),
        "spec.serviceAccountName": ("spec", "serviceAccountName"),
        "status.hostIP": ("status", "hostIP"),
        "status.podIP": ("status", "podIP"),
    }
    if path in simple:
        value = dig(pod, *simple[path])
        return "" if value is None else str(value)
    if path in ("status.podIPs", "status.hostIPs"):
        entries = as_list(dig(pod, "status", path.split(".", 1)[1]))
        return ",".join(str(e.get("ip")) for e in entries if isinstance(e, dict) and e.get("ip"))
    match = _LABEL_FIELD.match(path)
    if match:
        value = as_dict(dig(pod, "metadata", match.group(1))).get(match["key"])
        return "" if value is None else str(value)
    raise ContainerConfigError(f"unsupported fieldRef fieldPath {path!r}")


_SUFFIX = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9, "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}
_QUANTITY = re.compile(r"^(?P<num>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(?P<suffix>[a-zA-Z]*)$")


def quantity(text: str) -> Decimal:
    match = _QUANTITY.match(str(text).strip())
    if match is None or match["suffix"] not in _SUFFIX:
        raise ContainerConfigError(f"not a resource quantity: {text!r}")
    try:
        return Decimal(match["num"]) * _SUFFIX[match["suffix"]]
    except InvalidOperation:
        raise ContainerConfigError(f"not a resource quantity: {text!r}") from None


def resource_value(pod: dict[str, Any], container: dict[str, Any], ref: dict[str, Any]) -> str:
    """`resourceFieldRef`: the container's request or limit, divided by `divisor` and rounded up."""
    target = container
    wanted = ref.get("containerName")
    if wanted:
        for item in as_list(dig(pod, "spec", "containers")):
            if isinstance(item, dict) and item.get("name") == wanted:
                target = item
    section, _, resource = str(ref.get("resource", "")).partition(".")
    raw = as_dict(dig(target, "resources", section)).get(resource)
    if raw is None and section == "limits":
        # The kubelet falls back to the node's allocatable; this stand-in has no node to ask.
        raw = as_dict(dig(target, "resources", "requests")).get(resource)
    if raw is None:
        return "0"
    divisor = quantity(str(ref.get("divisor") or "1"))
    if divisor == 0:
        raise ContainerConfigError("resourceFieldRef divisor must not be zero")
    return str(math.ceil(quantity(str(raw)) / divisor))


async def container_env(pod: dict[str, Any], container: dict[str, Any], source: ObjectSource) -> dict[str, str]:
    namespace = str(dig(pod, "metadata", "namespace") or "")
    objects = _Objects(source, namespace)
    env: dict[str, str] = {}
    for entry in as_list(container.get("envFrom")):
        if not isinstance(entry, dict):
            continue
        prefix = str(entry.get("prefix") or "")
        for kind, field in (("configmap", "configMapRef"), ("secret", "secretRef")):
            ref = entry.get(field)
            if not isinstance(ref, dict):
                continue
            data = await objects.data(kind, str(ref.get("name", "")))
            if data is None:
                if not ref.get("optional"):
                    raise ContainerConfigError(f"{kind} \"{ref.get('name')}\" not found")
                continue
            for key, value in data.items():
                if _ENV_NAME.match(prefix + key):
                    env[prefix + key] = value
    for entry in as_list(container.get("env")):
        if not isinstance(entry, dict) or not entry.get("name"):
            continue
        name = str(entry["name"])
        source_ref = entry.get("valueFrom")
        if not isinstance(source_ref, dict):
            env[name] = expand(str(entry.get("value") or ""), env)
            continue
        value = await _value_from(pod, container, source_ref, objects)
        if value is not None:
            env[name] = value
    return env


async def _value_from(pod: dict[str, Any], container: dict[str, Any], ref: dict[str, Any], objects: _Objects
                      ) -> str | None:
    if isinstance(ref.get("fieldRef"), dict):
        return field_value(pod, str(ref["fieldRef"].get("fieldPath", "")))
    if isinstance(ref.get("resourceFieldRef"), dict):
        return resource_value(pod, container, ref["resourceFieldRef"])
    for kind, field in (("configmap", "configMapKeyRef"), ("secret", "secretKeyRef")):
        key_ref = ref.get(field)
        if not isinstance(key_ref, dict):
            continue
        name, key = str(key_ref.get("name", "")), str(key_ref.get("key", ""))
        data = await objects.data(kind, name)
        if data is None or key not in data:
            if key_ref.get("optional"):
                return None
            missing = f"{kind} \"{name}\" not found" if data is None else f"couldn't find key {key} in {kind} {name}"
            raise ContainerConfigError(missing)
        return data[key]
    return None
