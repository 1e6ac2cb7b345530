"""Invocations: forward to the data plane, answer within the poll window or hand out a request id.

A pexec call starts one task that runs to completion whoever waits for it; its result is stored, so
`GET /pexec/status/{reqid}` finds it whether the caller comes back in a second or after a restart.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Collection

from reference.ports import DataPlane, DataPlaneError, ForwardRequest, ForwardResponse, FunctionVersion
from reference.problems import PROBLEM_JSON, problem_body
from reference.store import InvocationRow, Store

log = logging.getLogger("reference.invoker")
# Mutant (`reference serve --violate RULE`): the function is not told its id.
HEADERS_FORWARDED = "INVOKE-HEADERS-FORWARDED"

# Never passed between client and function: they describe one hop, or are the platform's business.
HOP_HEADERS = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "trailers",
    "transfer-encoding", "upgrade", "host", "authorization", "content-length",
})


def nvcf_status(status_code: int) -> str:
    if status_code == 202:
        return "in-progress"
    return "fulfilled" if 200 <= status_code < 400 else "errored"


def new_request_id() -> str:
    return str(uuid.uuid4())


def function_headers(
    function: FunctionVersion, request_id: str, nca_id: str, incoming: list[tuple[str, str]],
    violations: Collection[str] = frozenset(),
) -> tuple[tuple[str, str], ...]:
    """The caller's end-to-end headers plus what NVCF tells a function about the call."""
    kept = [(k, v) for k, v in incoming if k.lower() not in HOP_HEADERS and not k.lower().startswith("nvcf-")]
    kept += [
        ("NVCF-REQID", request_id),
        ("NVCF-FUNCTION-ID", function.function_id),
        ("NVCF-FUNCTION-VERSION-ID", function.version_id),
        ("NVCF-FUNCTION-NAME", function.name),
        ("NVCF-NCAID", nca_id),
    ]
    if HEADERS_FORWARDED in violations:
        kept = [(k, v) for k, v in kept if k != "NVCF-FUNCTION-ID"]
    return tuple(kept)


def clean_response_headers(headers: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    return tuple((k, v) for k, v in headers if k.lower() not in HOP_HEADERS and not k.lower().startswith("nvcf-"))


def problem_answer(status: int, detail: str, instance: str) -> ForwardResponse:
    body = json.dumps(problem_body(status, detail, instance)).encode()
    return ForwardResponse(status, (("content-type", PROBLEM_JSON),), body)


async def call_function(
    data_plane: DataPlane, function: FunctionVersion, request: ForwardRequest, timeout: float, instance: str
) -> ForwardResponse:
    """One call to the data plane; every failure becomes a problem answer instead of an exception."""
    try:
        answer = await asyncio.wait_for(data_plane.forward(function, request), timeout)
    except TimeoutError:
        return problem_answer(504, f"the function did not answer within {timeout:g} s", instance)
    except DataPlaneError as exc:
        return problem_answer(exc.status, exc.detail, instance)
    except Exception as exc:
        log.exception("data plane failed for function %s version %s", function.function_id, function.version_id)
        return problem_answer(502, f"the function's data plane failed: {exc}", instance)
    return ForwardResponse(answer.status, clean_response_headers(answer.headers), answer.body)


class Invoker:
    def __init__(self, store: Store, data_plane: DataPlane, timeout: float) -> None:
        self.store = store
        self.data_plane = data_plane
        self.timeout = timeout
        self._running: dict[str, asyncio.Task[None]] = {}

    def recover(self) -> int:
        """Answer invocations a previous process left pending: their tasks died with it."""
        pending = self.store.pending_invocations()
        for request_id in pending:
            answer = problem_answer(
                502, "the server restarted before the function answered this request",
                f"/v2/nvcf/pexec/status/{request_id}",
            )
            self.store.finish_invocation(request_id, answer.status, answer.headers, answer.body)
        return len(pending)

    async def stop(self) -> None:
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def submit(self, function: FunctionVersion, request: ForwardRequest, request_id: str,
                     poll_seconds: float, instance: str) -> InvocationRow:
        """Start the call, wait up to `poll_seconds`, return the (pending or finished) record."""
        self.store.add_invocation(request_id, function.function_id, function.version_id)
        task = asyncio.get_running_loop().create_task(
            self._run(function, request, request_id, instance), name=f"invoke-{request_id}"
        )
        self._running[request_id] = task
        task.add_done_callback(lambda _: self._running.pop(request_id, None))
        return await self.wait(request_id, poll_seconds)

    async def wait(self, request_id: str, poll_seconds: float) -> InvocationRow:
        """The record, once finished or after `poll_seconds`, whichever comes first."""
        task = self._running.get(request_id)
        if task is not None:
            # asyncio.wait never cancels what it waits for: a caller giving up (poll window over,
            # client gone) leaves the call running for the next poll.
            await asyncio.wait({task}, timeout=poll_seconds)
        row = self.store.get_invocation(request_id)
        assert row is not None, request_id
        return row

    async def _run(self, function: FunctionVersion, request: ForwardRequest, request_id: str, instance: str
                   ) -> None:
        answer = await call_function(self.data_plane, function, request, self.timeout, instance)
        self.store.finish_invocation(request_id, answer.status, answer.headers, answer.body)
