"""Function management: register functions and versions, list, look up, delete versions."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

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
from reference.auth import LIST_SCOPES, Principal, require
from reference.dto import function_dto
from reference.models import (
    CreateFunctionRequest,
    FunctionIdsResponse,
    FunctionListResponse,
    FunctionResponse,
    problem_responses,
)
from reference.ports import BackendUnavailable, FunctionVersion
from reference.problems import Problem, as_validation
from reference.store import FunctionRow

log = logging.getLogger("reference.functions")
router = APIRouter(prefix="/v2/nvcf", tags=["functions"])
VISIBILITIES = ("authorized", "private", "public")


def _with_deleted(svc: Services) -> bool:
    return rules.API_LIST_FUNCTIONS in svc.config.violations


def _dto(svc: Services, row: FunctionRow) -> dict[str, object]:
    dto = function_dto(row, svc.store.get_deployment(row.version.version_id), svc.config.nca_id)
    if rules.FN_CREATE_HELM in svc.config.violations:
        dto.pop("helmChartServiceName", None)
    return dto


async def _register(svc: Services, request: Request, function_id: str) -> JSONResponse:
    try:
        body = await read_json(request, CreateFunctionRequest)
    except Problem as problem:
        as_validation(problem)  # a body that does not parse is refused as bean validation refuses it
        raise
    version = validation.function_version(body, function_id, str(uuid.uuid4()), svc.config.violations,
                                          svc.config.behaviour)
    # The FN-HELM-FIELDS-PAIRED mutant accepts half a helm function: no chart check could pass it.
    unpaired = bool(version.helm_chart) != bool(version.helm_chart_service_name)
    if not (unpaired and rules.FN_HELM_FIELDS_PAIRED in svc.config.violations):
        await _deployer_accepts(svc, version)
    row = svc.store.add_version(version)
    log.info("registered function %s version %s (%s)", version.function_id, version.version_id,
             "helm chart" if version.is_helm else "container")
    return JSONResponse({"function": _dto(svc, row)})


async def _deployer_accepts(svc: Services, version: FunctionVersion) -> None:
    try:
        issues = await svc.deployer.validate_at_creation(version)
    except BackendUnavailable as exc:
        raise unavailable(exc) from None
    except Exception as exc:
        log.exception("the deployer failed to validate function %s", version.function_id)
        raise Problem(502, f"the deployer could not check the function: {exc}") from exc
    refuse_issues(issues, "the function cannot be deployed as given")


@router.post(
    "/functions",
    summary="Register a new function (its first version)",
    responses={200: {"model": FunctionResponse}, **problem_responses(400, 401, 403, 413, 415)},
    openapi_extra=json_body(CreateFunctionRequest),
)
async def create_function(request: Request, _: Annotated[Principal, require("register_function")]) -> Response:
    return await _register(services(request), request, str(uuid.uuid4()))


@router.get(
    "/functions",
    summary="List every version of every function",
    responses={200: {"model": FunctionListResponse}, **problem_responses(400, 401, 403)},
)
async def list_functions(
    request: Request,
    _: Annotated[Principal, require(*LIST_SCOPES)],
    visibility: Annotated[list[str] | None, Query()] = None,
) -> Response:
    wanted = set(visibility or VISIBILITIES)
    unknown = sorted(wanted - set(VISIBILITIES))
    if unknown:
        raise Problem(400, f"Invalid request: 'visibility' must be among {', '.join(VISIBILITIES)} "
                           f"(got {', '.join(repr(u) for u in unknown)})")
    svc = services(request)
    # Every function here belongs to the caller's account: private (and authorized), never public.
    rows = svc.store.all_versions(include_deleted=_with_deleted(svc)) if wanted & {"authorized", "private"} else []
    return JSONResponse({"functions": [_dto(svc, r) for r in rows]})


@router.get(
    "/functions/ids",
    summary="List function ids",
    responses={200: {"model": FunctionIdsResponse}, **problem_responses(401, 403)},
)
async def list_function_ids(request: Request, _: Annotated[Principal, require(*LIST_SCOPES)]) -> Response:
    svc = services(request)
    return JSONResponse({"functionIds": svc.store.function_ids(include_deleted=_with_deleted(svc))})


@router.post(
    "/functions/{function_id}/versions",
    summary="Register a new version of an existing function",
    responses={200: {"model": FunctionResponse}, **problem_responses(400, 401, 403, 404, 413, 415)},
    openapi_extra=json_body(CreateFunctionRequest),
)
async def create_version(
    function_id: str, request: Request, _: Annotated[Principal, require("register_function")]
) -> Response:
    svc = services(request)
    if not svc.store.versions_of(function_id):
        raise Problem(404, f"there is no function {function_id}")
    if rules.FN_NEW_VERSION_SAME_ID in svc.config.violations:
        function_id = str(uuid.uuid4())
    return await _register(svc, request, function_id)


@router.get(
    "/functions/{function_id}/versions",
    summary="List the versions of a function",
    responses={200: {"model": FunctionListResponse}, **problem_responses(401, 403, 404)},
)
async def list_versions(
    function_id: str, request: Request, _: Annotated[Principal, require(*LIST_SCOPES)]
) -> Response:
    svc = services(request)
    rows = svc.store.versions_of(function_id, include_deleted=_with_deleted(svc))
    if not rows:
        raise Problem(404, f"there is no function {function_id}")
    return JSONResponse({"functions": [_dto(svc, r) for r in rows]})


@router.get(
    "/functions/{function_id}/versions/{version_id}",
    summary="Get one function version",
    responses={200: {"model": FunctionResponse}, **problem_responses(401, 403, 404)},
)
async def get_version(
    function_id: str,
    version_id: str,
    request: Request,
    _: Annotated[Principal, require(*LIST_SCOPES)],
    # Accepted for NVCF compatibility; secret values are never returned, only their names.
    include_secrets: Annotated[bool, Query(alias="includeSecrets")] = False,
) -> Response:
    svc = services(request)
    if (rules.FN_ERROR_PROBLEM_DETAILS in svc.config.violations
            and svc.store.get_version(function_id, version_id) is None):
        return JSONResponse({"error": "not found"}, status_code=404)
    return JSONResponse({"function": _dto(svc, find_version(svc.store, function_id, version_id))})


@router.delete(
    "/functions/{function_id}/versions/{version_id}",
    summary="Delete a function version (undeploying it first)",
    status_code=204,
    responses={204: {"description": "deleted"}, **problem_responses(401, 403, 404, 502)},
)
async def delete_version(
    function_id: str, version_id: str, request: Request, _: Annotated[Principal, require("delete_function")]
) -> Response:
    svc = services(request)
    find_version(svc.store, function_id, version_id)  # 404 before a lock exists for a made-up id
    async with svc.lifecycle.lock(version_id):
        row = find_version(svc.store, function_id, version_id)
        deployment = svc.store.get_deployment(version_id)
        if deployment is None:
            if rules.FN_VERSION_DELETED_GONE not in svc.config.violations:
                svc.store.mark_deleted(version_id)
        else:
            try:
                await svc.lifecycle.undeploy(row.version, deployment.deployment, final_status="DELETED")
            except Exception as exc:
                raise Problem(502, f"removing the deployment of the version failed: {exc}") from exc
    log.info("deleted function %s version %s", function_id, version_id)
    if rules.FN_VERSION_DELETE in svc.config.violations:
        return JSONResponse({"function": {"id": function_id, "versionId": version_id, "status": "DELETED"}})
    return Response(status_code=204)
