"""Rows → the JSON documents NVCF answers with (FunctionDto, FunctionDeploymentDto)."""

from __future__ import annotations

from typing import Any

from reference.store import DeploymentRow, FunctionRow

# Copied from the request into the DTO when present; secrets are reduced to their names below.
_ECHOED = (
    "containerImage", "containerArgs", "containerEnvironment", "models", "resources", "helmChart",
    "helmChartServiceName", "tags", "description", "rateLimit", "llmInvocationConfig", "telemetries",
)


def function_dto(row: FunctionRow, deployment: DeploymentRow | None, nca_id: str) -> dict[str, Any]:
    v = row.version
    req = dict(v.request)
    dto: dict[str, Any] = {
        "id": v.function_id,
        "ncaId": nca_id,
        "versionId": v.version_id,
        "name": v.name,
        "status": row.status,
        "inferenceUrl": v.inference_url,
        "ownedByDifferentAccount": False,
        "inferencePort": v.inference_port,
        "apiBodyFormat": req.get("apiBodyFormat", "CUSTOM"),
        "functionType": req.get("functionType", "DEFAULT"),
        "healthUri": v.health.get("uri"),
        "health": dict(v.health),
        "createdAt": row.created_at,
        "activeInstances": [],
    }
    for key in _ECHOED:
        if key in req:
            dto[key] = req[key]
    if "secrets" in req:
        dto["secrets"] = [s["name"] for s in req["secrets"]]
    if deployment is not None:
        dto["activeInstances"] = [
            {"functionId": v.function_id, "functionVersionId": v.version_id, "ncaId": nca_id, **inst}
            for inst in deployment.instances
        ]
    return dto


def deployment_dto(row: FunctionRow, deployment: DeploymentRow, nca_id: str) -> dict[str, Any]:
    d = deployment.deployment
    dto: dict[str, Any] = {
        "deploymentId": d.deployment_id,
        "functionId": d.function_id,
        "functionVersionId": d.version_id,
        "functionName": row.version.name,
        "ncaId": nca_id,
        "functionStatus": row.status,
        "deploymentSpecifications": [dict(s.raw) for s in d.specifications],
        "createdAt": deployment.created_at,
        "lastUpdatedAt": deployment.updated_at,
    }
    # NVCF only carries healthInfo when something went wrong.
    if deployment.health_info:
        dto["healthInfo"] = list(deployment.health_info)
    return dto
