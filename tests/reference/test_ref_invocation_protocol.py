"""The pexec protocol over real HTTP: slots per version and the 504 of a call nobody takes up, the poll
header's edge values, NVCF-STATUS, and the mutants of those and of pass-through routing."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from ref_support import (
    ADMIN,
    GATEWAY,
    INVOKER,
    EchoDataPlane,
    Running,
    ScriptedDeployer,
    assert_problem,
    create,
    deployment_path,
    gpu_spec,
    helm_function,
    wait_for_status,
)

from reference.config import Behaviour
from reference.invoker import Slots


def _active(running: Running, name: str, **spec: Any) -> dict[str, Any]:
    client = running.client(ADMIN)
    fn = create(client, helm_function(name))
    r = client.post(deployment_path(fn), json={"deploymentSpecifications": [gpu_spec(**spec)]})
    assert r.status_code == 200, r.text
    return wait_for_status(client, fn, "ACTIVE")


def _serve(server: Callable[..., Running], **config: Any) -> Running:
    return server(deployer=ScriptedDeployer(), data_plane=EchoDataPlane(), **config)


def _pexec(running: Running, fn: dict[str, Any], **headers: str) -> httpx.Response:
    return running.client(INVOKER).post(f"/v2/nvcf/pexec/functions/{fn['id']}", json={}, headers=headers)


def _in_background(call: Callable[[], httpx.Response]) -> tuple[threading.Thread, list[httpx.Response]]:
    answers: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: answers.append(call()))
    thread.start()
    return thread, answers


def _await(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# ── slots ─────────────────────────────────────────────────────────────────────────────────────


def test_slots_hand_a_freed_slot_to_the_longest_waiter_and_time_out_the_others() -> None:
    async def scenario() -> None:
        slots = Slots()
        assert await slots.take("v", 1, 0)
        first = asyncio.create_task(slots.take("v", 1, 5))
        second = asyncio.create_task(slots.take("v", 1, 0.2))
        await asyncio.sleep(0.05)
        assert not await second  # timed out while the slot stayed taken
        slots.release("v")
        assert await first and slots.busy("v") == 1
        slots.release("v")
        assert slots.busy("v") == 0
        assert all([await slots.take("u", None, 0) for _ in range(50)])  # no bound without a deployment

    asyncio.run(scenario())


def test_a_waiter_that_goes_away_passes_on_a_slot_handed_to_it() -> None:
    async def scenario() -> None:
        slots = Slots()
        assert await slots.take("v", 1, 0)
        gone = asyncio.create_task(slots.take("v", 1, None))
        await asyncio.sleep(0.01)
        gone.cancel()
        slots.release("v")
        with pytest.raises(asyncio.CancelledError):
            await gone
        assert slots.busy("v") == 0 and await slots.take("v", 1, 0)

    asyncio.run(scenario())


# ── a call no slot takes within its window ────────────────────────────────────────────────────


@pytest.mark.parametrize("nvidia", [False, True])
def test_a_call_nobody_takes_up_is_504_and_never_forwarded(server: Callable[..., Running], nvidia: bool) -> None:
    behaviour = Behaviour(refusal_texts="nvidia", inactive_invocation="404-first") if nvidia else Behaviour()
    running = _serve(server, behaviour=behaviour)
    fn = _active(running, "one-at-a-time", maxRequestConcurrency=1)
    plane: EchoDataPlane = running.data_plane
    holder, answers = _in_background(lambda: _pexec(running, fn, **{"x-delay": "2", "NVCF-POLL-SECONDS": "5"}))
    _await(lambda: len(plane.requests) == 1)
    started = time.monotonic()
    r = _pexec(running, fn, **{"NVCF-POLL-SECONDS": "1", "x-mark": "unclaimed"})
    assert r.status_code == 504 and time.monotonic() - started > 0.9
    assert r.headers["nvcf-status"] == "errored" and r.headers["nvcf-reqid"]
    if nvidia:
        assert r.content == b""  # NVIDIA's gateway_timeout_response has no body
    else:
        assert_problem(r, 504, "poll window")
    holder.join(10)
    assert answers[0].status_code == 200
    assert [req.headers for _, req in plane.requests if ("x-mark", "unclaimed") in req.headers] == []
    # Nothing is recorded for it: its status is as unknown as any id NVCF never issued.
    assert running.client(INVOKER).get(f"/v2/nvcf/pexec/status/{r.headers['nvcf-reqid']}").status_code == 404


def test_capacity_is_concurrency_times_instances_and_pass_through_waits_its_turn(
        server: Callable[..., Running]) -> None:
    running = _serve(server)
    fn = _active(running, "two-at-a-time", maxRequestConcurrency=2)
    plane: EchoDataPlane = running.data_plane
    slow = [_in_background(lambda: _pexec(running, fn, **{"x-delay": "1.5", "NVCF-POLL-SECONDS": "5"}))
            for _ in range(2)]
    _await(lambda: len(plane.requests) == 2)
    host = {"Host": f"{fn['id']}.invocation.{GATEWAY}"}
    assert running.client(INVOKER).get("/x", headers={**host, "NVCF-POLL-SECONDS": "1"}).status_code == 504
    # A window long enough for a slot to free: served once one does.
    assert running.client(INVOKER).get("/x", headers={**host, "NVCF-POLL-SECONDS": "5"}).status_code == 200
    for thread, answers in slow:
        thread.join(10)
        assert answers[0].status_code == 200


def test_the_504_mutant_still_forwards_the_call_once_a_slot_frees(server: Callable[..., Running]) -> None:
    running = _serve(server, violations=frozenset({"INVOKE-PEXEC-UNCLAIMED-504"}))
    fn = _active(running, "not-cancelled")
    holder, _ = _in_background(lambda: _pexec(running, fn, **{"x-delay": "3", "NVCF-POLL-SECONDS": "5"}))
    _await(lambda: len(running.data_plane.requests) == 1)
    r = _pexec(running, fn, **{"NVCF-POLL-SECONDS": "1"})
    assert r.status_code == 504
    holder.join(10)
    _await(lambda: len(running.data_plane.requests) == 2)


# ── the poll header ───────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("nvidia", [False, True])
@pytest.mark.parametrize("value", ["soon", "1.5", "-1"])
def test_a_poll_header_that_is_no_whole_number_is_400(server: Callable[..., Running], nvidia: bool,
                                                      value: str) -> None:
    behaviour = Behaviour(refusal_texts="nvidia") if nvidia else Behaviour()
    running = _serve(server, behaviour=behaviour)
    fn = _active(running, "poll-header")
    assert_problem(_pexec(running, fn, **{"NVCF-POLL-SECONDS": value}), 400)
    ignored = _serve(server, violations=frozenset({"INVOKE-POLL-SECONDS-NOT-NUMBER"}), behaviour=behaviour)
    assert _pexec(ignored, _active(ignored, "poll-header"), **{"NVCF-POLL-SECONDS": value}).status_code == 200


def test_poll_seconds_zero_is_one_second_unless_the_mutant_refuses_it(server: Callable[..., Running]) -> None:
    running = _serve(server)
    fn = _active(running, "zero")
    assert _pexec(running, fn, **{"NVCF-POLL-SECONDS": "0"}).status_code == 200
    started = time.monotonic()
    # 202 before the 2-s answer, and not at once: the window was about a second.
    assert _pexec(running, fn, **{"NVCF-POLL-SECONDS": "0", "x-delay": "2"}).status_code == 202
    assert time.monotonic() - started > 0.9
    mutant = _serve(server, violations=frozenset({"INVOKE-POLL-SECONDS-ZERO"}))
    assert_problem(_pexec(mutant, _active(mutant, "zero"), **{"NVCF-POLL-SECONDS": "0"}), 400, "at least 1")


# ── NVCF-STATUS ───────────────────────────────────────────────────────────────────────────────


def test_the_nvcf_status_mutants(server: Callable[..., Running]) -> None:
    silent = _serve(server, violations=frozenset({"INVOKE-NVCF-STATUS"}))
    fn = _active(silent, "silent")
    assert "nvcf-status" not in _pexec(silent, fn).headers
    assert _pexec(silent, fn, **{"x-status": "500"}).headers["nvcf-status"] == "errored"
    fulfilled = _serve(server, violations=frozenset({"INVOKE-NVCF-STATUS-ERRORED"}))
    fn = _active(fulfilled, "fulfilled")
    assert _pexec(fulfilled, fn, **{"x-status": "400"}).headers["nvcf-status"] == "fulfilled"
    assert _pexec(fulfilled, fn, **{"x-delay": "2", "NVCF-POLL-SECONDS": "1"}).headers["nvcf-status"] == "in-progress"


# ── pass-through routing mutants ──────────────────────────────────────────────────────────────


def _two_versions(running: Running) -> tuple[dict[str, Any], dict[str, Any]]:
    client = running.client(ADMIN)
    first = _active(running, "pinned")
    second = client.post(f"/v2/nvcf/functions/{first['id']}/versions", json=helm_function("pinned")).json()
    client.post(deployment_path(second["function"]), json={"deploymentSpecifications": [gpu_spec()]})
    return first, wait_for_status(client, second["function"], "ACTIVE")


def test_the_routing_mutants_drop_the_version(server: Callable[..., Running]) -> None:
    by_host = _serve(server, violations=frozenset({"INVOKE-ROUTE-VERSION-HOST"}))
    first, second = _two_versions(by_host)
    host = f"{first['versionId']}.{first['id']}.invocation.{GATEWAY}"
    assert by_host.client(INVOKER).get("/v", headers={"Host": host}).json()["version"] == second["versionId"]
    by_headers = _serve(server, violations=frozenset({"INVOKE-ROUTE-HEADERS"}))
    first, second = _two_versions(by_headers)
    r = by_headers.client(INVOKER).get("/v", headers={
        "Host": f"invocation.{GATEWAY}", "function-id": first["id"], "function-version-id": first["versionId"]})
    assert r.json()["version"] == second["versionId"]
    # Only that: the Host name still pins a version there.
    host = f"{first['versionId']}.{first['id']}.invocation.{GATEWAY}"
    assert by_headers.client(INVOKER).get("/v", headers={"Host": host}).json()["version"] == first["versionId"]


def test_the_pass_through_mutants_drop_the_query_or_the_method(server: Callable[..., Running]) -> None:
    for rule, seen in (("INVOKE-PASSTHROUGH-QUERY", ("PUT", "")), ("INVOKE-PASSTHROUGH-METHOD", ("POST", "a=1"))):
        running = _serve(server, violations=frozenset({rule}))
        fn = _active(running, "mangled")
        r = running.client(INVOKER).put("/p?a=1", content=b"body", headers={"Host": f"{fn['id']}.invocation.{GATEWAY}"})
        assert (r.json()["method"], r.json()["query"]) == seen, rule
        assert r.json()["body"] == "body"
