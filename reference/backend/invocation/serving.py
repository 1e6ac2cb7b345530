"""The seam between the deployer (which watches the cluster) and whatever makes instances reachable.

The deployer tells a `ServingPlane` which pods the function's Service routes to; the plane makes
them reachable (on KWOK: starts a probe process per pod) and says, per pod, whether the function's
health check answers there. The same plane answers invocations (`reference.ports.DataPlane`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from reference.ports import DataPlane, FunctionVersion

InstanceHealth = Literal["starting", "healthy", "unhealthy", "failed"]


@dataclass(frozen=True)
class InstanceState:
    pod: str
    node: str | None
    health: InstanceHealth
    # Why it is not healthy (or what the last check said); for `failed`, a deployment error reason.
    detail: str | None = None


@dataclass(frozen=True)
class SyncResult:
    instances: tuple[InstanceState, ...]

    @property
    def healthy(self) -> tuple[InstanceState, ...]:
        return tuple(i for i in self.instances if i.health == "healthy")

    @property
    def failed(self) -> tuple[InstanceState, ...]:
        return tuple(i for i in self.instances if i.health == "failed")

    def first_problem(self) -> str | None:
        for state in (*self.failed, *(i for i in self.instances if i.health != "healthy")):
            if state.detail:
                return state.detail
        return None


class ServingPlane(DataPlane, Protocol):
    async def sync(self, function: FunctionVersion, namespace: str, service: dict[str, Any],
                   pods: Sequence[dict[str, Any]]) -> SyncResult:
        """Make exactly `pods` (ready, selected by `service`) the function's instances; check each."""
        ...

    async def release(self, version_id: str) -> None:
        """Forget the function version's instances and stop whatever runs for them."""
        ...

    async def close(self) -> None:
        """Stop everything (server shutdown)."""
        ...
