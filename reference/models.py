"""Request and response shapes, as pydantic models: they type-check bodies and document the API.

Request models are strict (no "8000" for an integer, no 1.0 for a count) and ignore unknown fields,
as NVCF does. They check types only: the rules between fields, with messages that name the field,
are in `reference.validation`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

NAME_PATTERN = r"^[a-z0-9A-Z][a-z0-9A-Z\-_]*$"
INSTANCE_TYPE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]*\.GPU\.[A-Za-z0-9][A-Za-z0-9-]*_[1-9][0-9]*x(\.x[1-9][0-9]*)?$"


class _Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


HEALTH_FIELDS = ("protocol", "uri", "port", "timeout", "expectedStatusCode")


class HealthIn(_Request):
    # Every field is required (NVCF's HealthDto is @NotNull throughout); they are optional here only so
    # that `reference.validation` names the missing one, and the FN-HEALTH-FIELDS-REQUIRED mutant can
    # fill it in. The published schema still lists them as required.
    model_config = ConfigDict(json_schema_extra={"required": list(HEALTH_FIELDS)})

    protocol: Literal["HTTP", "gRPC"] | None = None
    uri: str | None = None
    port: int | None = None
    timeout: str | None = Field(None, description="ISO-8601 duration, e.g. PT10S")
    expectedStatusCode: int | None = None


class KeyValue(_Request):
    key: str
    value: str


class ModelRef(_Request):
    name: str
    uri: str
    version: str


class SecretIn(_Request):
    name: str
    value: str | dict[str, Any]


class CreateFunctionRequest(_Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "name": "inference-test", "inferenceUrl": "/echo", "inferencePort": 8000,
        "helmChart": "oci://registry.example/team/charts/inference-test-1.0.0.tgz",
        "helmChartServiceName": "entrypoint", "apiBodyFormat": "CUSTOM",
    }]})

    name: str | None = Field(None, json_schema_extra={"pattern": NAME_PATTERN, "minLength": 1, "maxLength": 128})
    inferenceUrl: str | None = Field(None, description="Path the function is invoked on; '/grpc' marks gRPC")
    inferenceURL: str | None = Field(
        None, description="The docs page's spelling of inferenceUrl (its gRPC note): read as inferenceUrl")
    inferencePort: int | None = Field(None, description="Port of the mini-service (default 8000)")
    health: HealthIn | None = None
    healthUri: str | None = None
    containerImage: str | None = None
    containerArgs: str | None = None
    containerEnvironment: list[KeyValue] | None = None
    models: list[ModelRef] | None = None
    resources: list[ModelRef] | None = None
    helmChart: str | None = Field(None, description="oci://REGISTRY/REPOSITORY/charts/NAME-X.Y.Z.tgz")
    helmChartServiceName: str | None = None
    apiBodyFormat: Literal["PREDICT_V2", "CUSTOM"] | None = None
    functionType: Literal["DEFAULT", "STREAMING", "LLM"] | None = None
    tags: list[str] | None = None
    description: str | None = None
    secrets: list[SecretIn] | None = None
    rateLimit: dict[str, Any] | None = None
    llmInvocationConfig: dict[str, Any] | None = None
    telemetries: dict[str, Any] | None = None


class KubernetesType(_Request):
    group: str
    version: str
    kind: str


HELM_POLICY_NAMES = ("Default", "Unrestricted")


class HelmValidationPolicy(_Request):
    # `name` is required and one of HELM_POLICY_NAMES (any case, as NVCF reads its enum); checked in
    # `reference.validation` so a refusal names the field.
    name: str | None = Field(None, json_schema_extra={"enum": list(HELM_POLICY_NAMES)})
    extraKubernetesTypes: list[KubernetesType] | None = None


class GpuSpecification(_Request):
    # Assigned by the server; a value sent at creation is ignored (NVCF assigns its own too).
    gpuSpecificationId: str | None = None
    gpu: str | None = None
    instanceType: str | None = Field(None, json_schema_extra={"pattern": INSTANCE_TYPE_PATTERN})
    backend: str | None = None
    maxInstances: int | None = None
    minInstances: int | None = None
    maxRequestConcurrency: int | None = None
    configuration: dict[str, Any] | None = Field(None, description="Helm values overrides (helm functions only)")
    clusters: list[str] | None = None
    regions: list[str] | None = None
    attributes: list[str] | None = None
    availabilityZones: list[str] | None = None
    preferredOrder: int | None = None
    helmValidationPolicy: HelmValidationPolicy | None = None
    autoscalingConfiguration: dict[str, Any] | None = None
    cpuArch: str | None = None
    os: str | None = None
    driverVersion: str | None = None
    storage: str | None = None
    systemMemory: str | None = None
    gpuMemory: str | None = None


class DeploymentRequest(_Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{"deploymentSpecifications": [{
        "gpu": "L40S", "instanceType": "DGXC.GPU.L40S_1x", "minInstances": 1, "maxInstances": 1,
        "configuration": {"replicaCount": 1},
    }]}]})

    deploymentSpecifications: list[GpuSpecification] | None = None


class UpdateGpuSpecification(_Request):
    """One entry of the deprecated PUT: only the counts change; the rest must match the deployment."""

    gpuSpecificationId: str | None = None
    gpu: str | None = None
    instanceType: str | None = None
    backend: str | None = None
    clusters: list[str] | None = None
    maxInstances: int | None = None
    minInstances: int | None = None
    maxRequestConcurrency: int | None = None


class UpdateDeploymentRequest(_Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{"deploymentSpecifications": [{
        "gpuSpecificationId": "6f1c0d8e-0000-4000-8000-000000000001", "minInstances": 1, "maxInstances": 2,
        "maxRequestConcurrency": 2,
    }]}]})

    deploymentSpecifications: list[UpdateGpuSpecification] | None = None


class GpuSpecificationUpdate(_Request):
    """`PATCH .../gpu-specifications/{id}`: the preferred update of one specification's counts.

    gpu, instanceType, backend and clusters are read only to refuse a change of them."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"minInstances": 1, "maxInstances": 2}]})

    maxInstances: int | None = None
    minInstances: int | None = None
    maxRequestConcurrency: int | None = None
    autoscalingConfiguration: dict[str, Any] | None = None
    autoscalingConfigurationPolicy: Literal["CUSTOM_CONFIGURATION", "PLATFORM_CONFIGURATION"] | None = None
    gpu: str | None = None
    instanceType: str | None = None
    backend: str | None = None
    clusters: list[str] | None = None


REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    CreateFunctionRequest, DeploymentRequest, UpdateDeploymentRequest, GpuSpecificationUpdate,
)


# --- responses (documentation only: handlers build plain dicts) ------------------------------------

class _Response(BaseModel):
    model_config = ConfigDict(extra="allow")


class HealthOut(_Response):
    protocol: str
    uri: str
    port: int
    timeout: str
    expectedStatusCode: int


class InstanceOut(_Response):
    instanceId: str
    functionId: str
    functionVersionId: str
    instanceStatus: str
    instanceType: str | None = None
    gpu: str | None = None
    backend: str | None = None
    location: str | None = None
    ncaId: str | None = None
    instanceCreatedAt: str | None = None
    instanceUpdatedAt: str | None = None


class FunctionDto(_Response):
    id: str
    ncaId: str
    versionId: str
    name: str
    status: Literal["INACTIVE", "DEPLOYING", "ACTIVE", "ERROR", "DEGRADED", "DEGRADING", "DELETED"]
    inferenceUrl: str
    ownedByDifferentAccount: bool
    inferencePort: int
    apiBodyFormat: str
    functionType: str
    healthUri: str
    health: HealthOut
    createdAt: str
    activeInstances: list[InstanceOut]
    helmChart: str | None = None
    helmChartServiceName: str | None = None
    containerImage: str | None = None
    containerArgs: str | None = None
    containerEnvironment: list[dict[str, Any]] | None = None
    models: list[dict[str, Any]] | None = None
    resources: list[dict[str, Any]] | None = None
    tags: list[str] | None = None
    description: str | None = None
    secrets: list[str] | None = None


class FunctionResponse(_Response):
    function: FunctionDto


class FunctionListResponse(_Response):
    functions: list[FunctionDto]


class FunctionIdsResponse(_Response):
    functionIds: list[str]


class HealthInfo(_Response):
    gpu: str | None = None
    backend: str | None = None
    instanceType: str | None = None
    error: str


class DeploymentDto(_Response):
    deploymentId: str
    functionId: str
    functionVersionId: str
    functionName: str
    ncaId: str
    functionStatus: str
    deploymentSpecifications: list[dict[str, Any]]
    healthInfo: list[HealthInfo] | None = None
    createdAt: str
    lastUpdatedAt: str


class DeploymentResponse(_Response):
    deployment: DeploymentDto


class GpuSpecificationResponse(_Response):
    gpuSpecification: dict[str, Any]


class ProblemDetails(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    instance: str


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` entry documenting problem+json answers for `codes`."""
    schema = {"$ref": "#/components/schemas/ProblemDetails"}
    return {code: {"description": "a problem", "content": {"application/problem+json": {"schema": schema}}}
            for code in codes}
