"""Deployments of function versions: create (→ DEPLOYING), look at, remove (→ INACTIVE)."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from reference import validation
from reference.api.common import find_version, json_body, read_json, refuse_issues, services, unavailable
from reference.auth import Principal, require
from reference.dto import deployment_dto, function_dto
from reference.models import DeploymentRequest, DeploymentResponse, FunctionResponse, problem_responses
from reference.ports import BackendUnavailable, Issue
from reference.problems import NVIDIA_BAD_REQUEST, Problem, as_validation

log = logging.getLogger("reference.deployments")
router = APIRouter(prefix="/v2/nvcf/deployments", tags=["deployments"])
PATH = "/functions/{function_id}/versions/{version_id}"
# Mutants (`reference serve --violate RULE`), each breaking the one behaviour its rule documents.
REDEPLOY_REFUSED = "DEPLOY-REDEPLOY-REFUSED"  # deploying a deployed version answers its deployment
LIFECYCLE_DEPLOY = "LIFECYCLE-DEPLOY"  # a new deployment starts DEGRADED instead of DEPLOYING
LIFECYCLE_UNDEPLOY = "LIFECYCLE-UNDEPLOY"  # removing a deployment is refused (only deleting the version works)


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
    try:
        body = await read_json(request, DeploymentRequest)
    except Problem as problem:
        as_validation(problem)  # a body that does not parse is refused as bean validation refuses it
        raise
    find_version(svc.store, function_id, version_id)  # 404 before a lock exists for a made-up id
    async with svc.lifecycle.lock(version_id):
        row = find_version(svc.store, function_id, version_id)
        existing = svc.store.get_deployment(version_id)
        if existing is not None and REDEPLOY_REFUSED in svc.config.violations:
            return JSONResponse({"deployment": deployment_dto(row, existing, svc.config.nca_id)})
        if row.status != "INACTIVE" or existing is not None:
            ids = f"function {function_id} version {version_id}"
            if row.status == "ERROR":
                raise Problem(400, f"Invalid request: {ids} already has a deployment with errors; "
                                   "delete that deployment before deploying again")
            raise Problem(400, f"Invalid request: {ids} is {row.status}, so it is already deployed; "
                               "delete the deployment first to deploy it anew")
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
        first = "DEGRADED" if LIFECYCLE_DEPLOY in svc.config.violations else "DEPLOYING"
        dep_row = await svc.lifecycle.deploy(row.version, deployment, status=first)
        fresh = svc.store.get_version(function_id, version_id) or row
        return JSONResponse({"deployment": deployment_dto(fresh, dep_row, svc.config.nca_id)})


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
    return JSONResponse({"deployment": deployment_dto(row, dep, svc.config.nca_id)})


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
    # Accepted for NVCF compatibility: removal here always waits for the deployer to finish.
    graceful: Annotated[bool, Query()] = False,
) -> Response:
    svc = services(request)
    find_version(svc.store, function_id, version_id)
    async with svc.lifecycle.lock(version_id):
        row = find_version(svc.store, function_id, version_id)
        dep = svc.store.get_deployment(version_id)
        if dep is None:
            raise Problem(404, f"function {function_id} version {version_id} is not deployed")
        if LIFECYCLE_UNDEPLOY in svc.config.violations:
            raise Problem(409, "removing a deployment is not supported here; delete the function version instead")
        try:
            await svc.lifecycle.undeploy(row.version, dep.deployment)
        except Exception as exc:
            raise Problem(502, f"removing the deployment failed: {exc}") from exc
        fresh = svc.store.get_version(function_id, version_id) or row
        return JSONResponse({"function": function_dto(fresh, None, svc.config.nca_id)})
