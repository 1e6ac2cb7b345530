"""The mini-service probe's `/probe` report (method, path, query, body size, marks), read defensively."""

from __future__ import annotations

from typing import Any

from conformance.client import Nonconformant
from conformance.client.http import Reply

# The probe lists this header's value for each request it received (`marks` in its /probe report).
MARK_HEADER = "X-Probe-Mark"


def probe_report(reply: Reply) -> dict[str, Any]:
    """The report of a pass-through call to `/probe...`; a FAIL quoting the answer when it is not one."""
    body = reply.expect(200).body
    if not isinstance(body, dict) or not isinstance(body.get("method"), str):
        raise Nonconformant(f"the answer is not the mini-service's /probe report: {reply.describe()} "
                            f"{reply.text[:200]!r}", "wrong-answer")
    return body
