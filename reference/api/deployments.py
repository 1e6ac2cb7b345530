"""Deployments of function versions: create (→ DEPLOYING), look at, update their counts, remove (→ INACTIVE).

Updates (the deprecated PUT and `PATCH .../gpu-specifications/{id}`) change the deployment's record:
its instance counts and request concurrency. The Kubernetes back half places what the chart renders
(its replicas), not instance counts, so nothing is re-applied for them.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from reference import rules, validation
from reference.api.common import (
    Services,
    find_version,
    json_body,
    read_json,
    refuse_issues,
    services,
    unavailable,
)
from reference.auth import Principal, require
from reference.dto import deployment_dto, function_dto
from reference.models import (
    DeploymentRequest,
    DeploymentResponse,
    FunctionResponse,
    GpuSpecificationResponse,
    GpuSpecificationUpdate,
    UpdateDeploymentRequest,
    problem_responses,
)
from reference.ports import BackendUnavailable, Issue
from reference.problems import NVIDIA_BAD_REQUEST, Problem, as_validation
from reference.store import DeploymentRow, FunctionRow, spec_from_raw

log = logging.getLogger("reference.deployments")
router = APIRouter(prefix="/v2/nvcf/deployments", tags=["deployments"])
PATH = "/functions/{function_id}/versions/{version_id}"
M = TypeVar("M", bound=BaseModel)


async def _parse(request: Request, model: type[M]) -> M:
    try:
        return await read_json(request, model)
    except Problem as problem:
        as_validation(problem)  # a body that does not parse is refused as bean validation refuses it
        raise


@router.post(
    PATH,
    summary="Deploy a function version",
    responses={200: {"model": DeploymentResponse}, **problem_responses(400, 401, 403, 404, 413, 415, 502)},
    openapi_extra=json_body(DeploymentRequest),
)
async def create_deployment(
    function_id: str, version_id: str, request: Request, _: Annotated[Principal, require("deploy_function")]
) -> Response:
    svc = services(request)
    body = await _parse(request, DeploymentRequest)
    find_version(svc.store, function_id, version_id)  # 404 before a lock exists for a made-up id
    async with svc.lifecycle.lock(version_id):
        row = find_version(svc.store, function_id, version_id)
        existing = svc.store.get_deployment(version_id)
        if existing is not None and rules.DEPLOY_REDEPLOY_REFUSED in svc.config.violations:
            return JSONResponse({"deployment": deployment_dto(row, existing, svc.config.nca_id)})
        if existing is not None and row.status == "ERROR" and rules.DEPLOY_OVER_ERROR_REFUSED in svc.config.violations:
            await svc.lifecycle.undeploy(row.version, existing.deployment)  # the mutant replaces it silently
            row, existing = find_version(svc.store, function_id, version_id), None
        if row.status != "INACTIVE" or existing is not None:
            raise _already_deployed(svc, row)
        deployment = validation.deployment(body, row.version, str(uuid.uuid4()), svc.config.violations,
                                           svc.config.behaviour)
        try:
            issues = await svc.deployer.validate_deployment(row.version, deployment)
        except BackendUnavailable as exc:
            raise unavailable(exc) from None
        except Exception as exc:
            log.exception("the deployer failed to validate a deployment of %s", function_id)
            raise Problem(502, f"the deployer could not check the deployment: {exc}") from exc
        if issues and svc.config.behaviour.refusal_texts == "nvidia":
            raise _nvidia_refusal(issues)
        refuse_issues(issues, "the deployment was refused")
        first = "DEGRADED" if rules.LIFECYCLE_DEPLOY in svc.config.violations else "DEPLOYING"
        dep_row = await svc.lifecycle.deploy(row.version, deployment, status=first)
        fresh = svc.store.get_version(function_id, version_id) or row
        return JSONResponse({"deployment": deployment_dto(fresh, dep_row, svc.config.nca_id)})


def _already_deployed(svc: Services, row: FunctionRow) -> Problem:
    """The refusal of a second deployment: after ERROR the errored one must be deleted first."""
    v = row.version
    if svc.config.behaviour.refusal_texts == "nvidia":
        ids = f"Function id '{v.function_id}', version '{v.version_id}'"
        if row.status == "ERROR":
            return validation.nvidia_refusal(f"{ids}: Function already has a deployment with errors")
        return validation.nvidia_refusal(f"{ids}: Status {row.status}, use PATCH endpoint to update "
                                         "gpu-specification")
    ids = f"function {v.function_id} version {v.version_id}"
    if row.status == "ERROR":
        return Problem(400, f"Invalid request: {ids} already has a deployment with errors; "
                            "delete that deployment before deploying again")
    return Problem(400, f"Invalid request: {ids} is {row.status}, so it is already deployed; "
                        "delete the deployment first to deploy it anew, or update its counts with PATCH")


def _nvidia_refusal(issues: list[Issue]) -> Problem:
    """The deployer's refusal as NVIDIA's API sends it: its own words, nothing added (a BadRequestException)."""
    return Problem(400, "; ".join(issue.detail for issue in issues), type_=NVIDIA_BAD_REQUEST)


@router.get(
    PATH,
    summary="Get the deployment of a function version",
    responses={200: {"model": DeploymentResponse}, **problem_responses(401, 403, 404)},
)
async def get_deployment(
    function_id: str, version_id: str, request: Request, _: Annotated[Principal, require("deploy_function")]
) -> Response:
    svc = services(request)
    row = find_version(svc.store, function_id, version_id)
    dep = svc.store.get_deployment(version_id)
    if dep is None:
        raise Problem(404, f"function {function_id} version {version_id} is not deployed")
    return JSONResponse({"deployment": _echo(svc, row, dep)})


def _echo(svc: Services, row: FunctionRow, dep: DeploymentRow) -> dict[str, Any]:
    """The deployment as its GET answers it: every specification as accepted, `configuration` included."""
    dto = deployment_dto(row, dep, svc.config.nca_id)
    if rules.DEPLOY_GET_ECHOES_SPEC in svc.config.violations:
        for spec in dto["deploymentSpecifications"]:
            spec.pop("configuration", None)
    return dto


def _deployment_by_id(svc: Services, deployment_id: str) -> tuple[FunctionRow, DeploymentRow]:
    dep = svc.store.get_deployment_by_id(deployment_id)
    row = svc.store.get_version(dep.deployment.function_id, dep.deployment.version_id) if dep else None
    if dep is None or row is None:
        raise Problem(404, f"there is no deployment {deployment_id}")
    return row, dep


@router.get(
    "/{deployment_id}",
    summary="Get a deployment by its id",
    responses={200: {"model": DeploymentResponse}, **problem_responses(401, 403, 404)},
)
async def get_deployment_by_id(
    deployment_id: str, request: Request, _: Annotated[Principal, require("deploy_function")]
) -> Response:
    svc = services(request)
    row, dep = _deployment_by_id(svc, deployment_id)
    return JSONResponse({"deployment": _echo(svc, row, dep)})


@router.put(
    PATH,
    summary="Update the instance counts of a deployment (deprecated: use PATCH .../gpu-specifications/{id})",
    deprecated=True,
    responses={200: {"model": DeploymentResponse}, **problem_responses(400, 401, 403, 404, 413, 415)},
    openapi_extra=json_body(UpdateDeploymentRequest),
)
async def update_deployment(
    function_id: str, version_id: str, request: Request, _: Annotated[Principal, require("deploy_function")]
) -> Response:
    svc = services(request)
    body = await _parse(request, UpdateDeploymentRequest)
    find_version(svc.store, function_id, version_id)  # 404 before a lock exists for a made-up id
    async with svc.lifecycle.lock(version_id):
        row = find_version(svc.store, function_id, version_id)
        validation.check_updatable(row.version, row.status, svc.config.behaviour)
        dep = svc.store.get_deployment(version_id)
        if dep is None:
            raise Problem(404, f"function {function_id} version {version_id} is not deployed")
        current = [dict(spec.raw) for spec in dep.deployment.specifications]
        new = validation.updated_specifications(body, current, row.version, svc.config.violations,
                                                 svc.config.behaviour)
        answered = _store_update(svc, dep, new, keep=rules.DEPLOY_PUT_UPDATES_COUNTS in svc.config.violations)
        log.info("function %s version %s: deployment %s updated by PUT", function_id, version_id,
                 dep.deployment.deployment_id)
        return JSONResponse({"deployment": deployment_dto(row, answered, svc.config.nca_id)})


def _store_update(svc: Services, dep: DeploymentRow, specifications: list[dict[str, Any]], *, keep: bool
                  ) -> DeploymentRow:
    """Record the updated specifications and return the deployment as it now is. `keep` is the mutants'
    (the update is answered as if applied, and the old record stays)."""
    if keep:
        specs = tuple(spec_from_raw(raw) for raw in specifications)
        return dataclasses.replace(dep, deployment=dataclasses.replace(dep.deployment, specifications=specs))
    return svc.store.update_specifications(dep.deployment.version_id, specifications) or dep


@router.patch(
    "/{deployment_id}/gpu-specifications/{gpu_specification_id}",
    summary="Update the instance counts of one GPU specification of a deployment",
    responses={200: {"model": GpuSpecificationResponse}, **problem_responses(400, 401, 403, 404, 413, 415)},
    openapi_extra=json_body(GpuSpecificationUpdate),
)
async def update_gpu_specification(
    deployment_id: str, gpu_specification_id: str, request: Request,
    _: Annotated[Principal, require("deploy_function")],
) -> Response:
    svc = services(request)
    body = await _parse(request, GpuSpecificationUpdate)
    _, found = _deployment_by_id(svc, deployment_id)  # 404 before a lock exists for a made-up id
    async with svc.lifecycle.lock(found.deployment.version_id):
        row, dep = _deployment_by_id(svc, deployment_id)
        validation.check_updatable(row.version, row.status, svc.config.behaviour)
        specs = [dict(spec.raw) for spec in dep.deployment.specifications]
        at = next((i for i, raw in enumerate(specs) if raw.get("gpuSpecificationId") == gpu_specification_id),
                  None)
        if at is None:
            raise Problem(404, f"deployment {deployment_id} has no GPU specification {gpu_specification_id}")
        specs[at] = validation.patched_specification(body, specs[at], row.version, svc.config.violations,
                                                     svc.config.behaviour)
        _store_update(svc, dep, specs, keep=rules.DEPLOY_PATCH_UPDATES_COUNTS in svc.config.violations)
        log.info("deployment %s: GPU specification %s updated", deployment_id, gpu_specification_id)
        return JSONResponse({"gpuSpecification": specs[at]})


@router.delete(
    PATH,
    summary="Remove the deployment of a function version",
    responses={200: {"model": FunctionResponse}, **problem_responses(400, 401, 403, 404, 502)},
)
async def delete_deployment(
    function_id: str,
    version_id: str,
    request: Request,
    _: Annotated[Principal, require("deploy_function")],
    # Removal here always waits for the deployer to finish, graceful or not; in-flight invocations are
    # not drained first (NVCF's graceful removal lets its queue drain), both end INACTIVE.
    graceful: Annotated[bool, Query()] = False,
) -> Response:
    svc = services(request)
    find_version(svc.store, function_id, version_id)
    async with svc.lifecycle.lock(version_id):
        row = find_version(svc.store, function_id, version_id)
        dep = svc.store.get_deployment(version_id)
        if dep is None:
            raise Problem(404, f"function {function_id} version {version_id} is not deployed")
        if rules.LIFECYCLE_UNDEPLOY in svc.config.violations:
            raise Problem(409, "removing a deployment is not supported here; delete the function version instead")
        if graceful and rules.DEPLOY_DELETE_GRACEFUL in svc.config.violations:
            raise Problem(400, "Invalid request: graceful removal is not supported here; remove the deployment "
                               "without graceful=true")
        try:
            await svc.lifecycle.undeploy(row.version, dep.deployment)
        except Exception as exc:
            raise Problem(502, f"removing the deployment failed: {exc}") from exc
        fresh = svc.store.get_version(function_id, version_id) or row
        return JSONResponse({"function": function_dto(fresh, None, svc.config.nca_id)})
