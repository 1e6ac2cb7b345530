"""Property-based run over the published OpenAPI document: no request may make the server fail (5xx).

Bounded on purpose (a few positive and negative examples per operation, 127.0.0.1 only, about two
hundred requests) so it stays a few seconds; it looks for crashes and broken error shapes, not depth.
Hypothesis strategies are driven directly: schemathesis' lazy pytest loader does not work with the
pytest this project pins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from ref_support import ADMIN, EchoDataPlane, ScriptedDeployer, start_server
from schemathesis import GenerationMode

EXAMPLES_PER_MODE = 7


def _check(case: Any, failures: list[str]) -> None:
    response = case.call(headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
    where = f"{case.method} {case.formatted_path}"
    if response.status_code >= 500:
        failures.append(f"{where} -> {response.status_code}: {response.text[:300]}")
    elif response.status_code >= 400:
        ctype = response.headers.get("content-type", [""])
        ctype = ctype[0] if isinstance(ctype, list) else ctype
        body = response.json() if ctype.startswith("application/problem+json") else {}
        if not {"type", "title", "status", "detail", "instance"} <= set(body) or body["status"] != response.status_code:
            failures.append(f"{where} -> {response.status_code} without a problem document: {response.text[:300]}")


def test_no_request_makes_the_server_fail(tmp_path: Path) -> None:
    running = start_server(tmp_path / "nvcf.db", deployer=ScriptedDeployer(), data_plane=EchoDataPlane())
    try:
        schema = schemathesis.openapi.from_url(f"{running.url}/openapi.json", timeout=10)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 14
        failures: list[str] = []
        calls = 0
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

                @settings(max_examples=EXAMPLES_PER_MODE, deadline=None, database=None, derandomize=True,
                          phases=[Phase.generate], suppress_health_check=list(HealthCheck))
                @given(case=operation.as_strategy(generation_mode=mode))
                def run(case: Any) -> None:
                    nonlocal calls
                    calls += 1
                    _check(case, failures)

                try:
                    run()
                except Unsatisfiable:
                    # Nothing to get wrong (e.g. GET /health has no parameters): no negative cases.
                    assert mode is GenerationMode.NEGATIVE, operation.label
        assert calls <= 400
        assert not failures, "\n".join(failures[:20])
    finally:
        running.stop()

