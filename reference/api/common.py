"""What every route needs: the server's services, JSON bodies, and looking up function versions."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from reference.auth import TokenRegistry
from reference.config import ServerConfig
from reference.invoker import Invoker
from reference.lifecycle import DeploymentLifecycle
from reference.ports import BackendUnavailable, DataPlane, Deployer, Issue
from reference.problems import Problem, describe_errors
from reference.store import FunctionRow, Store

M = TypeVar("M", bound=BaseModel)

# Real request bodies nest a dozen levels, helm values included. Far deeper ones only come from hostile
# input, and Python's JSON parser (and everything recursive after it) would overflow its recursion
# limit on them: a 500, and uvicorn closing the connection under the client.
MAX_JSON_DEPTH = 64
# A string, or an unterminated one up to the end: a match that can never fail never backtracks, so the
# scan stays linear even over a body of escaped quotes with no closing one.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_BRACKET_SIGN = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 / -1 once read as signed bytes


@dataclass(frozen=True)
class Services:
    config: ServerConfig
    store: Store
    tokens: TokenRegistry
    deployer: Deployer
    data_plane: DataPlane
    lifecycle: DeploymentLifecycle
    invoker: Invoker


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` documenting a JSON body that the handler parses itself (after auth)."""
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


async def read_json(request: Request, model: type[M]) -> M:
    """Parse the body as `model`. Done in the handler rather than by FastAPI so that authentication
    is decided first: an anonymous caller gets 401 whatever it sent."""
    content_type = request.headers.get("content-type")
    if content_type:
        media = content_type.split(";", 1)[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            raise Problem(415, f"the request body must be application/json, not '{media}'")
    body = await request.body()
    if not body.strip():
        raise Problem(400, "Invalid request: the request body is empty; a JSON object is expected")
    if json_depth(body) > MAX_JSON_DEPTH:
        raise Problem(400, f"Invalid request: the request body nests arrays and objects more than {MAX_JSON_DEPTH} "
                           "levels deep, the most this server parses")
    try:
        data = json.loads(body, parse_constant=_refuse_constant)
    except ValueError:  # includes UnicodeDecodeError
        raise Problem(400, "Invalid request: the request body is not valid JSON") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Problem(400, describe_errors(list(exc.errors(include_input=False)))) from exc


def json_depth(body: bytes) -> int:
    """How deep arrays and objects nest in `body`, measured before parsing it (and without recursion).

    Strings are cut out first so brackets inside them do not count; what is left is the brackets
    alone, each +1 or -1, and the deepest point is the largest running sum. Every step runs in C, so a
    body at the size bound costs milliseconds. Invalid JSON may measure oddly; it is refused anyway.
    """
    brackets = _JSON_STRING.sub(b"", body).translate(_BRACKET_SIGN, _NOT_BRACKETS)
    return max(accumulate(memoryview(brackets).cast("b")), default=0)


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; Python's parser takes them, and they could not be answered back.
    raise ValueError(f"{name} is not valid JSON")


def find_version(store: Store, function_id: str, version_id: str) -> FunctionRow:
    row = store.get_version(function_id, version_id)
    if row is None:
        raise Problem(404, f"function {function_id} has no version {version_id}")
    return row


def refuse_issues(issues: list[Issue], what: str) -> None:
    if issues:
        raise Problem(400, f"Invalid request: {what}: " + "; ".join(str(i) for i in issues))


def unavailable(exc: BackendUnavailable) -> Problem:
    """A dependency of the back half is away: 5xx with Retry-After, so no client takes it for a refusal."""
    return Problem(exc.status, exc.detail, headers={"Retry-After": str(exc.retry_after)})
