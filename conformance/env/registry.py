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
    # Cost 5, not bcrypt's usual 10-12: the registry checks the hash on every request and a run pushes
    # and pulls hundreds of blobs (cost 10 made pushing 92 charts take 41 s); the password is a
    # random 144-bit token for a loopback-only registry, so a slow hash protects nothing here.
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
    return f"{username}:{hashed}\n"
