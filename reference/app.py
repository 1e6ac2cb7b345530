"""The app factory: wire store, tokens, deployer and data plane into one ASGI app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse

from reference import __version__
from reference.api import deployments, functions, invocation
from reference.api.common import Services
from reference.auth import TokenRegistry
from reference.config import ServerConfig
from reference.hosts import HostRouterMiddleware
from reference.invoker import Invoker
from reference.lifecycle import DeploymentLifecycle
from reference.middleware import AccessLogMiddleware, BodyLimitMiddleware, CrashMiddleware
from reference.models import REQUEST_MODELS, ProblemDetails
from reference.null_backend import NullDataPlane, NullDeployer
from reference.ports import DataPlane, Deployer
from reference.problems import install_handlers
from reference.store import Store

log = logging.getLogger("reference.app")
TITLE = "NVCF reference implementation"
DESCRIPTION = (
    "The control plane of NVIDIA Cloud Functions for helm-based functions, as the conformance harness "
    "expects it. Errors are RFC 7807 problem documents (application/problem+json)."
)


def create_app(
    config: ServerConfig,
    tokens: TokenRegistry,
    *,
    deployer: Deployer | None = None,
    data_plane: DataPlane | None = None,
) -> FastAPI:
    store = Store(config.db_path)
    chosen_deployer: Deployer = deployer if deployer is not None else NullDeployer()
    svc = Services(
        config=config,
        store=store,
        tokens=tokens,
        deployer=chosen_deployer,
        data_plane=data_plane if data_plane is not None else NullDataPlane(),
        lifecycle=DeploymentLifecycle(store, chosen_deployer),
        invoker=Invoker(store, data_plane if data_plane is not None else NullDataPlane(),
                        config.invocation_timeout_seconds),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        answered = svc.invoker.recover()
        resumed = await svc.lifecycle.start()
        log.info("ready: database %s (schema %d), %d deployment(s) resumed, %d interrupted invocation(s) "
                 "answered, gateway %s%s", config.db_path, store.schema_version, resumed, answered,
                 config.gateway_domain,
                 f", violating {', '.join(sorted(config.violations))}" if config.violations else "")
        try:
            yield
        finally:
            await svc.invoker.stop()
            await svc.lifecycle.stop()
            store.close()

    app = FastAPI(
        title=TITLE, version=__version__, description=DESCRIPTION, lifespan=lifespan,
        openapi_url="/openapi.json", docs_url=None, redoc_url=None,
    )
    app.state.services = svc
    app.state.tokens = tokens
    app.state.config = config
    install_handlers(app)

    @app.get("/health", tags=["health"], summary="Liveness; needs no token")
    async def health() -> JSONResponse:
        return JSONResponse({"status": "OK"})

    app.include_router(functions.router)
    app.include_router(deployments.router)
    app.include_router(invocation.router)

    # add_middleware wraps: the last added runs first. Order seen by a request:
    # access log → crash answer → body bound → Host routing → API routes.
    app.add_middleware(HostRouterMiddleware, gateway_domain=config.gateway_domain,
                       passthrough=invocation.passthrough, pexec_on_api_host=config.pexec_on_api_host)
    app.add_middleware(BodyLimitMiddleware, max_bytes=config.max_body_bytes)
    app.add_middleware(CrashMiddleware)
    app.add_middleware(AccessLogMiddleware)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _openapi_document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _openapi_document(app: FastAPI) -> dict[str, Any]:
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    # Bodies are parsed by the handlers (after auth), so FastAPI does not know their models: add them.
    for model in (*REQUEST_MODELS, ProblemDetails):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            schemas.setdefault(name, sub)
        schemas[model.__name__] = schema
    # FastAPI documents 422 on every route with parameters; this server answers 400 instead.
    for item in doc.get("paths", {}).values():
        for operation in item.values():
            if isinstance(operation, dict):
                operation.get("responses", {}).pop("422", None)
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return doc
