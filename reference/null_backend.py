"""What the server uses when no real back half is plugged in: it says so instead of pretending."""

from __future__ import annotations

from collections.abc import AsyncIterator

from reference.ports import (
    DataPlaneError,
    Deployment,
    DeploymentUpdate,
    ForwardRequest,
    ForwardResponse,
    FunctionVersion,
    Issue,
)

NO_DEPLOYER = "no deployer configured: this reference server was started without chart handling or a cluster"


class NullDeployer:
    """Accepts every function and fails every deployment with a reason that tells why."""

    async def validate_at_creation(self, function: FunctionVersion) -> list[Issue]:
        return []

    async def validate_deployment(self, function: FunctionVersion, deployment: Deployment) -> list[Issue]:
        return []

    async def deploy(
        self, function: FunctionVersion, deployment: Deployment, *, resumed: bool
    ) -> AsyncIterator[DeploymentUpdate]:
        yield DeploymentUpdate(status="ERROR", reason=NO_DEPLOYER)

    async def undeploy(self, function: FunctionVersion, deployment: Deployment) -> None:
        return None

    async def shutdown(self) -> None:
        return None


class NullDataPlane:
    async def forward(self, function: FunctionVersion, request: ForwardRequest) -> ForwardResponse:
        raise DataPlaneError(503, "no data plane configured: nothing can reach the function's mini-service")
