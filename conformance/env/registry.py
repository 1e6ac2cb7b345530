"""The OCI registry a run pushes charts to: one interface, two ways to run it.

`LocalRegistry` (conformance.env.local_registry) runs CNCF distribution as a process on 127.0.0.1;
`DockerRegistryContainer` (conformance.env.docker_registry) runs it as a container for Docker hosts
and kind. Both require htpasswd (bcrypt) credentials and hand out the same `RegistryEndpoint`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import bcrypt


@dataclass(frozen=True)
class RegistryEndpoint:
    """How a client reaches the registry. `address` is `host:port`, no scheme (plain HTTP)."""

    address: str
    username: str
    password: str

    def __repr__(self) -> str:  # the password never reaches a log line through repr()
        return f"RegistryEndpoint(address={self.address!r}, username={self.username!r}, password='***')"


class Registry(Protocol):
    """A running (or startable) OCI registry with basic auth."""

    def start(self) -> RegistryEndpoint: ...

    def stop(self) -> None: ...

    @property
    def endpoint(self) -> RegistryEndpoint: ...


def htpasswd_line(username: str, password: str) -> str:
    """One htpasswd entry in the bcrypt form that distribution's htpasswd auth accepts."""
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()
    return f"{username}:{hashed}\n"
