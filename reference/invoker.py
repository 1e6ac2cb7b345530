"""Invocations: forward to the data plane, answer within the poll window or hand out a request id.

A pexec call starts one task that runs to completion whoever waits for it; its result is stored, so
`GET /pexec/status/{reqid}` finds it whether the caller comes back in a second or after a restart.

A version takes as many calls at once as its deployment can (`Slots`): NVIDIA's workers each take
`maxRequestConcurrency` requests (default 1) off the version's queue, and a request that no worker
takes within its poll window is answered 504 and dropped from the queue (`HI/routes/post_pexec.rs`,
`gateway_timeout_response` and the cancel that follows it). Here a call waits for a free slot for its
poll window; one that gets none is never forwarded (`submit`/`call` return None, the caller answers 504).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import Counter, deque
from collections.abc import Collection

from reference import rules
from reference.ports import DataPlane, DataPlaneError, ForwardRequest, ForwardResponse, FunctionVersion
from reference.problems import PROBLEM_JSON, problem_body
from reference.store import InvocationRow, Store

log = logging.getLogger("reference.invoker")

# Never passed between client and function: they describe one hop, or are the platform's business.
HOP_HEADERS = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "trailers",
    "transfer-encoding", "upgrade", "host", "authorization", "content-length",
})


def nvcf_status(status_code: int, violations: Collection[str] = frozenset()) -> str | None:
    """NVIDIA's `NVCF-STATUS` for an answer (HI/routes/nvcf_status_header.rs); None: leave it out."""
    if status_code == 202:
        return "in-progress"
    if 200 <= status_code < 400:
        return None if rules.INVOKE_NVCF_STATUS in violations else "fulfilled"
    return "fulfilled" if rules.INVOKE_NVCF_STATUS_ERRORED in violations else "errored"


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
    if rules.INVOKE_HEADERS_FORWARDED in violations:
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


class Slots:
    """Calls in flight per function version, at most `capacity` at once; the others wait in line.

    A slot that frees goes straight to the longest waiter, so a waiter is never overtaken by a newer
    call. `capacity` None means no bound (a version the server knows no deployment for).
    """

    def __init__(self) -> None:
        self._busy: Counter[str] = Counter()
        self._capacity: dict[str, int | None] = {}
        self._waiting: dict[str, deque[asyncio.Future[None]]] = {}

    def busy(self, key: str) -> int:
        return self._busy[key]

    async def take(self, key: str, capacity: int | None, wait: float | None) -> bool:
        """A slot for `key` within `wait` seconds (None: as long as it takes); False when none came."""
        self._capacity[key] = capacity
        if capacity is None or (self._busy[key] < capacity and not self._waiting.get(key)):
            self._busy[key] += 1
            return True
        handed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        line = self._waiting.setdefault(key, deque())
        line.append(handed)
        try:
            await asyncio.wait_for(handed, wait)
        except TimeoutError:
            return False
        except asyncio.CancelledError:
            if handed.done() and not handed.cancelled():
                self.release(key)  # handed over just as the waiter went away: pass it on
            raise
        finally:
            if handed in line:
                line.remove(handed)
        return True

    def release(self, key: str) -> None:
        self._busy[key] -= 1
        line = self._waiting.get(key)
        capacity = self._capacity.get(key)
        while line and (capacity is None or self._busy[key] < capacity):
            handed = line.popleft()
            if not handed.done():
                self._busy[key] += 1
                handed.set_result(None)
        if not self._busy[key]:
            del self._busy[key]


class Invoker:
    def __init__(self, store: Store, data_plane: DataPlane, timeout: float) -> None:
        self.store = store
        self.data_plane = data_plane
        self.timeout = timeout
        self.slots = Slots()
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
                     poll_seconds: float, instance: str, *, capacity: int | None = None,
                     forward_unclaimed: bool = False) -> InvocationRow | None:
        """Start the call, wait up to `poll_seconds`, return the (pending or finished) record.

        None: no slot of the version freed within the window, so the call was neither forwarded nor
        recorded. `forward_unclaimed` (a mutant) still forwards it once a slot frees.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        if not await self.slots.take(function.version_id, capacity, poll_seconds):
            if forward_unclaimed:
                self._start(function, request, request_id, instance, capacity, claimed=False)
            return None
        self._start(function, request, request_id, instance, capacity, claimed=True)
        return await self.wait(request_id, max(poll_seconds - (loop.time() - started), 0.0))

    def _start(self, function: FunctionVersion, request: ForwardRequest, request_id: str, instance: str,
               capacity: int | None, *, claimed: bool) -> None:
        """Record the call and run it in a task of its own (which takes a slot first unless `claimed`)."""
        try:
            self.store.add_invocation(request_id, function.function_id, function.version_id)
            task = asyncio.get_running_loop().create_task(
                self._run(function, request, request_id, instance, capacity, claimed), name=f"invoke-{request_id}")
        except BaseException:
            if claimed:
                self.slots.release(function.version_id)
            raise
        self._running[request_id] = task
        task.add_done_callback(lambda _: self._running.pop(request_id, None))

    async def call(self, function: FunctionVersion, request: ForwardRequest, instance: str, *,
                   capacity: int | None, wait: float) -> ForwardResponse | None:
        """One pass-through call once a slot is free (None: none freed within `wait` seconds)."""
        if not await self.slots.take(function.version_id, capacity, wait):
            return None
        try:
            return await call_function(self.data_plane, function, request, self.timeout, instance)
        finally:
            self.slots.release(function.version_id)

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

    async def _run(self, function: FunctionVersion, request: ForwardRequest, request_id: str, instance: str,
                   capacity: int | None, claimed: bool) -> None:
        key = function.version_id
        if not claimed:
            await self.slots.take(key, capacity, None)
        try:
            answer = await call_function(self.data_plane, function, request, self.timeout, instance)
            self.store.finish_invocation(request_id, answer.status, answer.headers, answer.body)
        finally:
            self.slots.release(key)
