"""A small typed NVCF client: management, deployments, pexec with polling, pass-through invocation.

Calls return a `Reply` whatever the status code, because conformance tests assert on 4xx answers as
much as on 2xx; only transport failures raise (`TargetUnreachable`). Every exchange is recorded,
redacted, in the client's `Transcript`. Routing (self-hosted Host headers or hosted plain URLs) is the
target config's business; callers name functions and versions, never hosts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import quote

import httpx

from conformance.client.errors import Nonconformant, TargetServerError, TargetUnreachable, WaitTimeout
from conformance.client.redact import Redactor
from conformance.client.transcript import Transcript, clip
from conformance.report.model import Exchange
from conformance.target.config import Endpoint, TargetConfig

API = "/v2/nvcf"
# Status polls: the first pause, and how it grows towards `timeouts.poll_interval`.
FIRST_POLL_PAUSE = 0.2
POLL_BACKOFF = 1.5
PROBLEM_FIELDS = ("type", "title", "status", "detail")
REQUIRED_PROBLEM_FIELDS = ("status", "detail")
FUNCTION_STATUSES = ("ACTIVE", "DEPLOYING", "ERROR", "INACTIVE", "DELETED", "DEGRADED", "DEGRADING")
# Keys whose string values explain a failure; echoed request fields (helmChart, name, ...) are
# deliberately not among them, or every refusal would "name" the chart it was sent.
_REASON_KEYS = frozenset({"error", "errors", "reason", "message", "statusmessage", "detail", "details", "cause"})


@dataclass(frozen=True)
class ProblemDetails:
    """RFC 7807 problem details (`application/problem+json`)."""

    type: str | None
    title: str | None
    status: int | None
    detail: str | None
    instance: str | None
    media_type: str
    extra: Mapping[str, Any] = field(default_factory=dict)
    malformed: frozenset[str] = frozenset()  # members present with a value that is not a string

    @property
    def effective_type(self) -> str:
        """RFC 9457 §3.1.1: an absent `type` means `about:blank` (Spring leaves it out of validation 400s)."""
        return self.type or "about:blank"

    def problems_with_shape(self, http_status: int) -> list[str]:
        """Why this is not a conformant problem document for an answer with `http_status` (empty: it is).

        The rule asks for the media type, a `status` equal to the HTTP status and a `detail`; `type` and
        `title` are optional members (RFC 9457 §3.1), but when present they must be strings.
        """
        found = []
        if not self.media_type.startswith("application/problem+json"):
            found.append(f"content type is {self.media_type or 'missing'}, not application/problem+json")
        for name in REQUIRED_PROBLEM_FIELDS:
            if getattr(self, name) in (None, ""):
                found.append(f"member '{name}' is missing")
        for name in ("type", "title"):
            if name in self.malformed:
                found.append(f"member '{name}' is not a string")
        if self.status is not None and self.status != http_status:
            found.append(f"member 'status' is {self.status}, the HTTP status is {http_status}")
        return found


class Reply:
    """One HTTP answer, read completely."""

    def __init__(self, method: str, url: str, response: httpx.Response) -> None:
        self.method = method
        self.url = url
        self.status_code = response.status_code
        self.headers = response.headers
        self.content = response.content

    def __repr__(self) -> str:
        return f"<Reply {self.method} {self.url} {self.status_code}>"

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    @cached_property
    def body(self) -> Any:
        """The JSON body, or None when the body is empty or not JSON."""
        if not self.content:
            return None
        try:
            return json.loads(self.content)
        except (ValueError, UnicodeDecodeError):
            return None

    def json(self) -> Any:
        if self.body is None:
            raise Nonconformant(f"{self.method} {self.url} answered {self.status_code} without a JSON body: "
                                f"{self.text[:200]!r}", "wrong-answer")
        return self.body

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def media_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @cached_property
    def problem(self) -> ProblemDetails | None:
        """The problem document, when the body looks like one (any JSON with status/title/detail)."""
        body = self.body
        if not isinstance(body, dict) or not (set(body) & {"status", "title", "detail", "type"}):
            return None
        status = body.get("status")
        return ProblemDetails(
            type=_str_or_none(body.get("type")),
            title=_str_or_none(body.get("title")),
            status=status if isinstance(status, int) and not isinstance(status, bool) else None,
            detail=_str_or_none(body.get("detail")),
            instance=_str_or_none(body.get("instance")),
            media_type=self.media_type,
            extra={k: v for k, v in body.items() if k not in (*PROBLEM_FIELDS, "instance")},
            malformed=frozenset(k for k in ("type", "title") if k in body and not isinstance(body[k], str)),
        )

    @property
    def error_text(self) -> str:
        """What the answer says went wrong: problem title and detail, else the body text."""
        problem = self.problem
        if problem is not None:
            parts = [problem.title or "", problem.detail or ""]
            parts += [json.dumps(v) if not isinstance(v, str) else v for v in problem.extra.values()]
            return " ".join(p for p in parts if p)
        return self.text

    @property
    def request_id(self) -> str | None:
        return self.headers.get("nvcf-reqid")

    def describe(self) -> str:
        """`POST /v2/nvcf/functions → 400: <detail>` for messages."""
        detail = " ".join(self.error_text.split())[:300] if not self.ok else ""
        return f"{self.method} {self.url} → {self.status_code}" + (f": {detail}" if detail else "")

    def expect(self, *codes: int) -> Reply:
        """This reply, when its status is one of `codes`; a FAIL naming what came instead otherwise."""
        if self.status_code not in codes:
            wanted = " or ".join(str(c) for c in codes)
            raise Nonconformant(f"expected {wanted}: {self.describe()}", "unexpected-http-status")
        return self

    def field(self, *path: str) -> Any:
        """`reply.field("function", "id")`: a member of the JSON body, a FAIL when absent."""
        node: Any = self.json()
        for name in path:
            if not isinstance(node, dict) or name not in node:
                raise Nonconformant(
                    f"{self.method} {self.url}: the answer has no '{'.'.join(path)}' ({self.text[:200]!r})",
                    "wrong-answer",
                )
            node = node[name]
        return node


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class StatusWatch:
    """What `wait_for_status` saw: the status it stopped on and every distinct status on the way."""

    final: str
    history: tuple[str, ...]
    function: dict[str, Any]
    elapsed_s: float


@dataclass(frozen=True)
class Invocation:
    """A pexec call and the polls that followed it until an answer other than 202."""

    first: Reply
    final: Reply
    polls: tuple[Reply, ...] = ()


def reason_text(*documents: Any) -> str:
    """The failure explanations inside function/deployment documents (healthInfo errors, reasons)."""
    found: list[str] = []

    def walk(node: Any, under_reason: bool) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, under_reason or str(key).lower() in _REASON_KEYS)
        elif isinstance(node, list):
            for value in node:
                walk(value, under_reason)
        elif isinstance(node, str) and under_reason and node.strip():
            found.append(node.strip())

    for document in documents:
        walk(document, False)
    return " | ".join(dict.fromkeys(found))


class NvcfClient:
    """NVCF's REST API as the harness uses it. Not thread-safe per instance; `for_test` is cheap."""

    def __init__(
        self,
        target: TargetConfig,
        *,
        transcript: Transcript | None = None,
        redactor: Redactor | None = None,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.target = target
        self.transcript = transcript if transcript is not None else Transcript()
        self.redactor = redactor if redactor is not None else Redactor(target.secrets())
        self._own_http = http is None
        # No connection reuse across Host-routed names is assumed; httpx pools by address anyway.
        self._http = http or httpx.Client(timeout=target.timeout("http"), follow_redirects=False)
        self._sleep = sleep

    def for_test(self, transcript: Transcript | None = None) -> NvcfClient:
        """A client that shares this one's connections but records into its own transcript."""
        return NvcfClient(self.target, transcript=transcript if transcript is not None else Transcript(),
                          redactor=self.redactor,
                          http=self._http, sleep=self._sleep)

    def close(self) -> None:
        if self._own_http:
            self._http.close()

    def __enter__(self) -> NvcfClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ── transport ────────────────────────────────────────────────────────────────────────────────

    def request(
        self,
        method: str,
        endpoint: Endpoint,
        path: str,
        *,
        credential: str | None,
        json_body: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Reply:
        """One exchange, recorded. Raises `TargetUnreachable` when no answer comes."""
        url = endpoint.base_url + path
        sent: dict[str, str] = {"Accept": "application/json"}
        if endpoint.host:
            sent["Host"] = endpoint.host
        if credential:
            sent["Authorization"] = f"Bearer {credential}"
        if json_body is not None:
            content = json.dumps(json_body).encode()
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        started = time.monotonic()
        shown_url = url + (("?" + str(httpx.QueryParams(params))) if params else "")
        try:
            response = self._http.request(
                method, url, content=content, headers=sent, params=params,
                timeout=timeout or self.target.timeout("http"),
            )
        except httpx.TransportError as exc:
            elapsed = time.monotonic() - started
            problem = f"{type(exc).__name__}: {exc}".strip()
            self._record(method, shown_url, sent, content, None, {}, None, elapsed, problem)
            where = f"{url} (Host {endpoint.host})" if endpoint.host else url
            raise TargetUnreachable(
                f"no answer from {self.redactor.text(where)} after {elapsed:.1f} s ({self.redactor.text(problem)}); "
                "check the target address (nvcf.gateway / NVCF_GATEWAY_ADDR, nvcf.api_url) and that it is up"
            ) from None
        elapsed = time.monotonic() - started
        self._record(method, shown_url, sent, content, response.status_code, dict(response.headers.items()),
                     response.content, elapsed, None)
        return Reply(method, path, response)

    def _record(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None, status: int | None,
                response_headers: Mapping[str, str], response_body: bytes | None, elapsed: float,
                error: str | None) -> None:
        r = self.redactor
        self.transcript.add(Exchange(
            method=method,
            url=r.text(url) or "",
            request_headers=r.headers(headers),
            request_body=clip(r.text(_decode(body))),
            status=status,
            response_headers=r.headers(response_headers),
            response_body=clip(r.text(_decode(response_body))),
            elapsed_s=round(elapsed, 4),
            error=r.text(error),
        ))

    def _api(self, method: str, path: str, **kwargs: Any) -> Reply:
        reply = self.request(method, self.target.api, API + path, credential=self.target.token, **kwargs)
        if reply.status_code >= 500:
            said = " ".join(reply.error_text.split())[:300]
            raise TargetServerError(
                f"the NVCF API answered {reply.status_code} to {method} {path}"
                + (f" ({self.redactor.text(said)})" if said else "")
                + ": the backend failed, so this says nothing about the rule; see the transcript and its logs"
            )
        return reply

    # ── functions ────────────────────────────────────────────────────────────────────────────────

    def create_function(self, body: Mapping[str, Any]) -> Reply:
        return self._api("POST", "/functions", json_body=dict(body), timeout=self.target.timeout("create"))

    def create_version(self, function_id: str, body: Mapping[str, Any]) -> Reply:
        return self._api("POST", f"/functions/{_seg(function_id)}/versions", json_body=dict(body),
                         timeout=self.target.timeout("create"))

    def list_functions(self, visibility: Iterable[str] | None = None) -> Reply:
        params = {"visibility": list(visibility)} if visibility else None
        return self._api("GET", "/functions", params=params)

    def list_versions(self, function_id: str) -> Reply:
        return self._api("GET", f"/functions/{_seg(function_id)}/versions")

    def list_function_ids(self) -> Reply:
        return self._api("GET", "/functions/ids")

    def get_version(self, function_id: str, version_id: str) -> Reply:
        return self._api("GET", f"/functions/{_seg(function_id)}/versions/{_seg(version_id)}")

    def delete_version(self, function_id: str, version_id: str) -> Reply:
        return self._api("DELETE", f"/functions/{_seg(function_id)}/versions/{_seg(version_id)}")

    # ── deployments ──────────────────────────────────────────────────────────────────────────────

    def create_deployment(self, function_id: str, version_id: str, specs: Iterable[Mapping[str, Any]]) -> Reply:
        body = {"deploymentSpecifications": [dict(s) for s in specs]}
        return self._api("POST", f"/deployments/functions/{_seg(function_id)}/versions/{_seg(version_id)}",
                         json_body=body, timeout=self.target.timeout("create"))

    def get_deployment(self, function_id: str, version_id: str) -> Reply:
        return self._api("GET", f"/deployments/functions/{_seg(function_id)}/versions/{_seg(version_id)}")

    def delete_deployment(self, function_id: str, version_id: str, *, graceful: bool = False) -> Reply:
        return self._api("DELETE", f"/deployments/functions/{_seg(function_id)}/versions/{_seg(version_id)}",
                         params={"graceful": str(graceful).lower()}, timeout=self.target.timeout("undeploy"))

    def get_deployment_by_id(self, deployment_id: str) -> Reply:
        return self._api("GET", f"/deployments/{_seg(deployment_id)}")

    def update_deployment(self, function_id: str, version_id: str, specs: Iterable[Mapping[str, Any]]) -> Reply:
        """The deprecated PUT of a deployment: its specifications with new counts (nothing else may change)."""
        body = {"deploymentSpecifications": [dict(s) for s in specs]}
        return self._api("PUT", f"/deployments/functions/{_seg(function_id)}/versions/{_seg(version_id)}",
                         json_body=body)

    def patch_gpu_specification(self, deployment_id: str, gpu_specification_id: str,
                                changes: Mapping[str, Any]) -> Reply:
        """`PATCH /deployments/{id}/gpu-specifications/{id}`: the preferred update of one specification."""
        return self._api("PATCH", f"/deployments/{_seg(deployment_id)}/gpu-specifications/"
                                  f"{_seg(gpu_specification_id)}", json_body=dict(changes))

    # ── other credentials ────────────────────────────────────────────────────────────────────────

    def call_as(self, credential: str | None, method: str, path: str, *, invocation: bool = False,
                json_body: Any = None) -> Reply:
        """`path` (under /v2/nvcf) sent with `credential` instead of the configured one (None: no
        Authorization header), on the API host or, with `invocation`, where pexec is served; for the
        authentication rules. A 5xx raises `TargetServerError`, as for every management call."""
        endpoint = self.target.pexec if invocation else self.target.api
        reply = self.request(method, endpoint, API + path, credential=credential, json_body=json_body)
        if reply.status_code >= 500:
            said = " ".join(reply.error_text.split())[:300]
            raise TargetServerError(
                f"NVCF answered {reply.status_code} to {method} {path}" + (f" ({self.redactor.text(said)})" if said
                                                                          else "")
                + ": the backend failed, so this says nothing about the rule; see the transcript and its logs")
        return reply

    # ── status ───────────────────────────────────────────────────────────────────────────────────

    def function_status(self, function_id: str, version_id: str) -> tuple[str | None, dict[str, Any]]:
        """(status, function document); (None, {}) when the version is not found."""
        reply = self.get_version(function_id, version_id)
        if reply.status_code == 404:
            return None, {}
        function = reply.expect(200).field("function")
        status = function.get("status") if isinstance(function, dict) else None
        return (status if isinstance(status, str) else None), function

    def wait_for_status(
        self,
        function_id: str,
        version_id: str,
        wanted: Iterable[str],
        timeout: float,
        *,
        interval: float | None = None,
        timeout_name: str = "timeouts.deploy_active",
    ) -> StatusWatch:
        """Poll until the version's status is one of `wanted`; `WaitTimeout` (an ERROR) otherwise.

        The pause starts short and grows to `interval` (`timeouts.poll_interval`): most changes come
        within a second or two, and a backend that takes minutes is asked every `interval` seconds. A
        change of status starts the short pauses again: the next one tends to follow soon.
        """
        targets = set(wanted)
        interval = self.target.timeout("poll_interval") if interval is None else interval
        pause = first_pause = min(FIRST_POLL_PAUSE, interval)
        started = time.monotonic()
        history: list[str] = []
        while True:
            status, function = self.function_status(function_id, version_id)
            shown = status or "NOT-FOUND"
            if not history or history[-1] != shown:
                history.append(shown)
                pause = first_pause
            if status in targets:
                return StatusWatch(status or "", tuple(history), function, time.monotonic() - started)
            if status is None and "NOT-FOUND" in targets:
                return StatusWatch("NOT-FOUND", tuple(history), function, time.monotonic() - started)
            elapsed = time.monotonic() - started
            if elapsed >= timeout:
                raise WaitTimeout(
                    f"function {function_id} version {version_id} did not reach {'/'.join(sorted(targets))} "
                    f"within {timeout:.0f} s (statuses seen: {' → '.join(history)}); raise {timeout_name} if the "
                    "backend is slow",
                    last=status,
                )
            self._sleep(min(pause, max(timeout - elapsed, 0.05)))
            pause = min(pause * POLL_BACKOFF, interval)

    def failure_reason(self, function_id: str, version_id: str) -> str:
        """Every failure explanation NVCF gives for a version: function and deployment documents."""
        _, function = self.function_status(function_id, version_id)
        deployment = self.get_deployment(function_id, version_id)
        return reason_text(function, deployment.body if deployment.ok else None)

    # ── invocation ───────────────────────────────────────────────────────────────────────────────

    def pexec(
        self,
        function_id: str,
        body: Any = None,
        *,
        version_id: str | None = None,
        poll_seconds: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        path = f"{API}/pexec/functions/{_seg(function_id)}"
        if version_id:
            path += f"/versions/{_seg(version_id)}"
        sent = dict(headers or {})
        if poll_seconds is not None:
            sent["NVCF-POLL-SECONDS"] = str(poll_seconds)
        return self.request("POST", self.target.pexec, path, credential=self.target.api_key,
                            json_body=body if body is not None else {}, headers=sent,
                            timeout=self._invoke_timeout(poll_seconds))

    def pexec_status(self, request_id: str, *, poll_seconds: int | None = None) -> Reply:
        sent = {"NVCF-POLL-SECONDS": str(poll_seconds)} if poll_seconds is not None else None
        return self.request("GET", self.target.pexec, f"{API}/pexec/status/{_seg(request_id)}",
                            credential=self.target.api_key, headers=sent,
                            timeout=self._invoke_timeout(poll_seconds))

    def invoke(
        self,
        function_id: str,
        body: Any = None,
        *,
        version_id: str | None = None,
        poll_seconds: int | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Invocation:
        """pexec, then poll `/pexec/status/{NVCF-REQID}` while the answer is 202."""
        timeout = timeout or self.target.timeout("invoke")
        started = time.monotonic()
        first = self.pexec(function_id, body, version_id=version_id, poll_seconds=poll_seconds, headers=headers)
        reply, polls = first, []
        while reply.status_code == 202:
            request_id = reply.request_id
            if not request_id:
                raise Nonconformant(f"{reply.describe()} carries no NVCF-REQID header to poll with", "wrong-answer")
            if time.monotonic() - started > timeout:
                raise WaitTimeout(f"invocation {request_id} still pending after {timeout:.0f} s; "
                                  "raise timeouts.invoke if the backend is slow")
            wait = _int_header(reply, "nvcf-poll-seconds")
            self._sleep(0 if wait else self.target.timeout("poll_interval"))
            reply = self.pexec_status(request_id, poll_seconds=poll_seconds)
            polls.append(reply)
        return Invocation(first, reply, tuple(polls))

    def passthrough(
        self,
        function_id: str,
        method: str,
        path: str,
        *,
        version_id: str | None = None,
        body: bytes | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """Host-routed invocation: the path and query go to the mini-service unchanged."""
        endpoint = self.target.passthrough(function_id, version_id)
        return self.request(method, endpoint, path if path.startswith("/") else "/" + path,
                            credential=self.target.api_key, content=body, json_body=json_body,
                            headers=headers, timeout=self.target.timeout("invoke"))

    def passthrough_by_headers(
        self,
        function_id: str,
        method: str,
        path: str,
        *,
        version_id: str | None = None,
        body: bytes | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """Pass-through addressed by `function-id` / `function-version-id` headers instead of the Host name."""
        sent = {"function-id": function_id, **({"function-version-id": version_id} if version_id else {})}
        return self.request(method, self._invocation_plane(), path if path.startswith("/") else "/" + path,
                            credential=self.target.api_key, content=body, json_body=json_body,
                            headers={**sent, **(headers or {})}, timeout=self.target.timeout("invoke"))

    def _invocation_plane(self) -> Endpoint:
        """`invocation.<gw>` self-hosted; a hosted invocation service reads the headers on its own URL."""
        if self.target.self_hosted:
            return Endpoint(self.target.api.base_url, f"invocation.{self.target.gateway_domain}")
        return self.target.pexec

    def _invoke_timeout(self, poll_seconds: int | None) -> float:
        # The server may hold the request for the whole poll window before it answers 202.
        window = poll_seconds if poll_seconds is not None else 60
        return max(self.target.timeout("http"), min(window, 3600) + 15)


def _seg(value: str) -> str:
    """A path segment: ids made up by tests must not smuggle '/' or '?' into the path."""
    return quote(str(value), safe="")


def _decode(body: bytes | None) -> str | None:
    if body is None:
        return None
    if not body:
        return ""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return f"<{len(body)} bytes of binary data>"


def _int_header(reply: Reply, name: str) -> int | None:
    try:
        return int(reply.headers.get(name, ""))
    except ValueError:
        return None
