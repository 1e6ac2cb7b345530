"""Registry credentials: which one serves a host, and the dockerconfigjson that carries them to pods."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RegistryAuth:
    """Basic-auth credentials for one registry. `registry` is `host[:port]`, no scheme."""

    registry: str
    username: str
    password: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.registry or "/" in self.registry:
            raise ValueError(f"registry must be host[:port] without scheme or path, got {self.registry!r}")

    @property
    def host(self) -> str:
        return split_host(self.registry)


def split_host(registry: str) -> str:
    """`host:port` → `host` (IPv6 literals keep their brackets off)."""
    if registry.startswith("["):
        return registry[1 : registry.find("]")] if "]" in registry else registry
    return registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry


AuthSource = RegistryAuth | Sequence[RegistryAuth] | None


def as_list(auth: AuthSource) -> list[RegistryAuth]:
    if auth is None:
        return []
    if isinstance(auth, RegistryAuth):
        return [auth]
    return list(auth)


def for_registry(auth: AuthSource, registry: str) -> RegistryAuth | None:
    """The credentials configured for exactly `registry` (host and port), if any.

    Matching host *and* port keeps one registry's password from ever being offered to another
    service that merely shares its address.
    """
    wanted = registry.lower()
    for candidate in as_list(auth):
        if candidate.registry.lower() == wanted:
            return candidate
    return None


def dockerconfigjson(auths: Iterable[RegistryAuth]) -> str:
    """The `.dockerconfigjson` document kubelet reads: one `auths` entry per registry, last one wins."""
    entries: dict[str, dict[str, str]] = {}
    for item in auths:
        token = base64.b64encode(f"{item.username}:{item.password}".encode()).decode()
        entries[item.registry] = {"username": item.username, "password": item.password, "auth": token}
    return json.dumps({"auths": entries}, sort_keys=True)


def redact(text: str, auth: AuthSource) -> str:
    """`text` with every configured password replaced, for messages built from tool output."""
    for item in as_list(auth):
        if item.password:
            text = text.replace(item.password, "***")
    return text
