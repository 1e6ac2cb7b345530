"""The two seams between the control plane and whatever actually runs functions.

The API layer owns ids, validation of the request shapes, status bookkeeping and persistence. A
`Deployer` owns everything about turning a function version into running instances (pull and render
the chart, validate it, apply it, watch it); a `DataPlane` owns reaching a running function. Both are
structural protocols: implement the methods, no base class needed.

Everything crossing the seam is an immutable value, so an implementation cannot change the server's
records behind its back; the server applies what `deploy()` reports, and nothing else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

FunctionStatus = Literal["INACTIVE", "DEPLOYING", "ACTIVE", "ERROR", "DEGRADED", "DEGRADING", "DELETED"]
FUNCTION_STATUSES: tuple[str, ...] = (
    "INACTIVE", "DEPLOYING", "ACTIVE", "ERROR", "DEGRADED", "DEGRADING", "DELETED",
)
# What a deployer may report; INACTIVE and DELETED are the server's to set (undeploy, delete).
REPORTABLE_STATUSES: frozenset[str] = frozenset({"DEPLOYING", "ACTIVE", "ERROR", "DEGRADING", "DEGRADED"})
# ACTIVE serves; DEGRADING has lost instances but still serves (NVCF's documented meaning).
INVOCABLE_STATUSES: frozenset[str] = frozenset({"ACTIVE", "DEGRADING"})
INSTANCE_STATUSES: tuple[str, ...] = (
    "ACTIVE", "STARTING", "RUNNING", "ERRORED", "PREEMPTED", "DELETED", "TERMINATED",
)


@dataclass(frozen=True)
class FunctionVersion:
    """One immutable function version as registered (ids assigned, defaults filled in)."""

    function_id: str
    version_id: str
    name: str
    inference_url: str
    inference_port: int
    # {protocol: HTTP|gRPC, uri, port, timeout (ISO-8601), expectedStatusCode}
    health: Mapping[str, Any]
    helm_chart: str | None = None
    helm_chart_service_name: str | None = None
    container_image: str | None = None
    # The whole normalised create request (containerEnvironment, models, secrets with values, ...),
    # for whatever a deployer needs beyond the fields above.
    request: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_helm(self) -> bool:
        return self.helm_chart is not None

    @property
    def is_grpc(self) -> bool:
        return self.health.get("protocol") == "gRPC"


@dataclass(frozen=True)
class DeploymentSpec:
    """One entry of `deploymentSpecifications`, validated."""

    gpu: str
    instance_type: str
    min_instances: int
    max_instances: int
    # Helm values overrides (a JSON object); None for container functions and when not given.
    configuration: Mapping[str, Any] | None = None
    # The entry exactly as accepted, for fields the server does not interpret (clusters, regions, ...).
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Deployment:
    deployment_id: str
    function_id: str
    version_id: str
    specifications: tuple[DeploymentSpec, ...]


@dataclass(frozen=True)
class Instance:
    """One running (or failing) instance, shown in a function's `activeInstances`."""

    instance_id: str
    instance_status: str  # one of INSTANCE_STATUSES
    gpu: str | None = None
    instance_type: str | None = None
    backend: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class DeploymentUpdate:
    """A progress report from `Deployer.deploy`.

    `reason` says why, in words a user can act on; it is required with ERROR/DEGRADED/DEGRADING and
    should name the offending object (the kind, the volume, the Service) when one is to blame.
    `instances=None` leaves the known instances as they were; a tuple replaces them.
    `spec_index` ties an error to one entry of `deploymentSpecifications` (default: the first).
    """

    status: str  # one of REPORTABLE_STATUSES
    reason: str | None = None
    instances: tuple[Instance, ...] | None = None
    spec_index: int = 0


@dataclass(frozen=True)
class Issue:
    """One reason to refuse a request with 400; `field` names the request field when there is one."""

    detail: str
    field: str | None = None

    def __str__(self) -> str:
        return f"{self.field}: {self.detail}" if self.field else self.detail


class BackendUnavailable(Exception):
    """Something the back half depends on (the chart registry) is not available right now: the request
    is answered 5xx with Retry-After, never refused as if the chart were at fault."""

    def __init__(self, detail: str, status: int = 503, retry_after: int = 10) -> None:
        super().__init__(detail)
        self.detail, self.status, self.retry_after = detail, status, retry_after


@runtime_checkable
class Deployer(Protocol):
    async def validate_at_creation(self, function: FunctionVersion) -> list[Issue]:
        """Checks that can refuse `POST /functions[/{id}/versions]` with 400 (e.g. chart reference form).

        Called after the API's own validation, before anything is stored. Return [] to accept.
        """
        ...

    async def validate_deployment(self, function: FunctionVersion, deployment: Deployment) -> list[Issue]:
        """Checks that can refuse `POST /deployments/...` with 400 (e.g. rendering with `configuration`).

        Called after the API's own validation; the function is INACTIVE and nothing is stored yet.
        """
        ...

    def deploy(
        self, function: FunctionVersion, deployment: Deployment, *, resumed: bool
    ) -> AsyncIterator[DeploymentUpdate]:
        """Bring the deployment up and report progress; usually written as an `async def` generator.

        The server has already set DEPLOYING. It applies each update as it arrives, stops reading
        after ERROR, and keeps reading after ACTIVE (so later DEGRADING/DEGRADED/ACTIVE reports of a
        health watch are applied) until the deployment is removed, at which point the iterator is
        cancelled. Ending while still DEPLOYING counts as an error; raising records ERROR with the
        exception text. `resumed=True` means the server restarted and the deployment was DEPLOYING,
        ACTIVE, DEGRADING or DEGRADED before: re-attach to what exists, do not start over blindly.
        """
        ...

    async def undeploy(self, function: FunctionVersion, deployment: Deployment) -> None:
        """Remove everything the deployment created. Idempotent: may be called after an ERROR or
        twice. The `deploy()` iterator of this deployment is already cancelled when this runs."""
        ...

    async def shutdown(self) -> None:
        """The server is stopping: release local resources but leave deployments in place, so they
        can be resumed (`deploy(..., resumed=True)`) by the next start."""
        ...


@dataclass(frozen=True)
class ForwardRequest:
    """An HTTP request for a function's mini-service.

    `path` and `query` are forwarded as given (pass-through invocation keeps the caller's; pexec uses
    the function's `inferenceUrl`). `headers` already exclude Authorization, Host and hop-by-hop
    headers and include the NVCF-* headers a function receives (NVCF-REQID, NVCF-FUNCTION-ID, ...).
    """

    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True)
class ForwardResponse:
    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


class DataPlaneError(Exception):
    """The function could not be reached; answered as a problem with `status` (502, 503 or 504)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@runtime_checkable
class DataPlane(Protocol):
    async def forward(self, function: FunctionVersion, request: ForwardRequest) -> ForwardResponse:
        """Send `request` to the mini-service of `function` (any ready instance) and return its answer
        unchanged. Raise `DataPlaneError` when there is no route to it. May take as long as the
        function takes; the server applies its own poll window and overall timeout."""
        ...
