"""The probe's only model: it returns its inputs unchanged.

Shared request validation for the KServe v2 JSON protocol lives here so the
HTTP handler stays about transport.
"""

from __future__ import annotations

import os
from typing import Any

DEFAULT_VERSION = "1"
PLATFORM = "mini-service-echo"

# Invocation metadata/headers with these prefixes are reflected back so a test can see what the
# NVCF gateway forwarded (e.g. function-id, nvcf-reqid) without a dedicated endpoint.
REFLECTED_PREFIXES = ("function-", "nvcf-", "x-")
# A deployment-chosen name the answers carry (`served-by`): a harness that deploys two versions of one
# function with different names can tell which one really answered, whatever headers say.
IDENTITY_ENV = "MINI_SERVICE_IDENTITY"


class InferError(ValueError):
    """A request the echo model cannot accept; the message goes back to the caller."""


class Models:
    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names

    def knows(self, name: str) -> bool:
        return name in self.names

    def metadata(self, name: str, version: str | None) -> dict[str, Any]:
        return {
            "name": name,
            # Any version is accepted and echoed, so the list only names the default one.
            "versions": [version or DEFAULT_VERSION],
            "platform": PLATFORM,
            # The echo model takes tensors of any name, type and shape, so it declares none.
            "inputs": [],
            "outputs": [],
        }


def answer_parameters(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """What every inference answer carries besides the echo: forwarded metadata and who served it."""
    identity = os.environ.get(IDENTITY_ENV, "")
    return {**reflected_metadata(pairs), **({"served-by": identity} if identity else {})}


def reflected_metadata(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """`metadata.<key>` entries for forwarded keys worth showing to a test."""
    reflected: dict[str, str] = {}
    for key, value in pairs:
        lowered = key.lower()
        if lowered.startswith(REFLECTED_PREFIXES):
            name = f"metadata.{lowered}"
            # Repeated keys keep every value, in arrival order.
            reflected[name] = f"{reflected[name]}, {value}" if name in reflected else value
    return reflected


def _validate_tensor(index: int, tensor: Any) -> dict[str, Any]:
    where = f"inputs[{index}]"
    if not isinstance(tensor, dict):
        raise InferError(f"{where} must be an object")
    name = tensor.get("name")
    datatype = tensor.get("datatype")
    shape = tensor.get("shape")
    if not isinstance(name, str) or not name:
        raise InferError(f"{where}.name must be a non-empty string")
    if not isinstance(datatype, str) or not datatype:
        raise InferError(f"{where}.datatype must be a non-empty string")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
        raise InferError(f"{where}.shape must be a list of integers")
    if "data" not in tensor:
        raise InferError(f"{where}.data is required")
    output: dict[str, Any] = {"name": name, "datatype": datatype, "shape": shape, "data": tensor["data"]}
    if isinstance(tensor.get("parameters"), dict):
        output["parameters"] = tensor["parameters"]
    return output


MAX_DELAY_SECONDS = 60.0


def requested_delay(value: Any) -> float:
    """The `delay_seconds` a caller asked for (a request parameter or `?delay=`), bounded.

    A slow answer on demand is how a harness exercises pexec's 202 + polling path.
    """
    if value is None:
        return 0.0
    try:
        delay = float(value)
    except (TypeError, ValueError):
        raise InferError(f"delay_seconds must be a number, got {value!r}") from None
    if not 0 <= delay <= MAX_DELAY_SECONDS:
        raise InferError(f"delay_seconds must be between 0 and {MAX_DELAY_SECONDS:g}")
    return delay


def infer_json(
    model: str, version: str | None, body: Any, reflected: dict[str, str] | None = None
) -> dict[str, Any]:
    """KServe v2 JSON inference response for `body`; raises InferError when it is malformed."""
    if not isinstance(body, dict):
        raise InferError("request body must be a JSON object")
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InferError("inputs must be a non-empty list")
    request_id = body.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InferError("id must be a string")
    if "parameters" in body and not isinstance(body["parameters"], dict):
        raise InferError("parameters must be an object")
    outputs = [_validate_tensor(i, tensor) for i, tensor in enumerate(inputs)]
    response: dict[str, Any] = {
        "model_name": model,
        "model_version": version or DEFAULT_VERSION,
        # Always present (empty when not sent), matching what the gRPC side returns for an unset id.
        "id": request_id or "",
        "outputs": outputs,
    }
    if reflected:
        response["parameters"] = dict(reflected)
    return response
