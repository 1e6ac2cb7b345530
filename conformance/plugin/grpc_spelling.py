"""Which `inferenceUrl` makes the backend treat a helm function as gRPC: the docs' `/gRPC` or `/grpc`.

The docs say `/gRPC`; NVIDIA's open-source NVCF chooses gRPC health checks only for an exact `/grpc`
and serves `/gRPC` as HTTP. GRPC-URL-MARKS-FUNCTION judges the documented spelling on its own; every
other gRPC rule is about invocation, metadata and health gating, so it runs with whichever spelling the
backend honours. The target can name it (`nvcf.grpc_inference_url`); by default it is detected once
per run from the `health.protocol` the backend reports for a function created with each spelling
(nothing is deployed), and the run's report says which was used and why.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.client.errors import Nonconformant, TargetUnreachable
from conformance.client.http import NvcfClient, Reply
from conformance.report.model import GRPC_FACT_FILE

from .charts import ChartRef

DOCUMENTED = "/gRPC"
SPELLINGS = (DOCUMENTED, "/grpc")
FACT_FILE = GRPC_FACT_FILE  # in the results folder: the report shows what the run used


@dataclass(frozen=True)
class GrpcSpelling:
    url: str
    how: str

    def to_dict(self) -> dict[str, str]:
        return {"inferenceUrl": self.url, "how": self.how}


def _function_of(reply: Reply) -> dict[str, Any]:
    body = reply.body if isinstance(reply.body, dict) else {}
    function = body.get("function")
    return function if isinstance(function, dict) else {}


def reported_protocol(reply: Reply) -> str | None:
    """`health.protocol` of a created function, upper-cased (`GRPC`/`HTTP`), or None when not reported."""
    health = _function_of(reply).get("health")
    protocol = health.get("protocol") if isinstance(health, dict) else None
    return protocol.upper() if isinstance(protocol, str) and protocol.strip() else None


def _created_protocol(client: NvcfClient, chart: ChartRef, name: str, url: str) -> str | None:
    """Create a function with `url`, read its reported protocol, delete it again."""
    reply = client.create_function(chart.function_body(name, inferenceUrl=url))
    function = _function_of(reply)
    try:
        return reported_protocol(reply) if reply.ok else None
    finally:
        if function.get("id") and function.get("versionId"):
            with contextlib.suppress(TargetUnreachable, Nonconformant):
                client.delete_version(str(function["id"]), str(function["versionId"]))


def detect(client: NvcfClient, chart: ChartRef, name: str, configured: str) -> GrpcSpelling:
    if configured != "auto":
        return GrpcSpelling(configured, "set by the target config (nvcf.grpc_inference_url)")
    seen: dict[str, str | None] = {}
    for url in SPELLINGS:
        protocol = _created_protocol(client, chart, f"{name}-{url.strip('/').lower()}{len(seen)}", url)
        seen[url] = protocol
        if protocol == "GRPC":
            return GrpcSpelling(url, f"a function created with inferenceUrl {url} reports health.protocol gRPC")
        if protocol is None:
            break  # the backend does not report the protocol: nothing to compare
    shown = ", ".join(f"{u} → {p or 'not reported'}" for u, p in seen.items())
    return GrpcSpelling(DOCUMENTED, f"the documented spelling, since no spelling was reported as gRPC ({shown})")


def shared(results_dir: Path, compute: Any) -> GrpcSpelling:
    """The run's spelling: the first worker to detect it writes it down, the others read it."""
    path = results_dir / FACT_FILE
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        data = json.loads(path.read_text(encoding="utf-8"))
        return GrpcSpelling(str(data["inferenceUrl"]), str(data["how"]))
    spelling: GrpcSpelling = compute()
    results_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(OSError):
        tmp.write_text(json.dumps(spelling.to_dict()) + "\n", encoding="utf-8")
        tmp.replace(path)
    return spelling
