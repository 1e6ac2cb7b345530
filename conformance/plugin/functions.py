"""Functions a test creates: unique names, create → deploy → wait, and cleanup that always runs.

Every function version a test creates is registered twice: with the test's own `Functions` (cleaned
at the test's teardown, failure or not) and with the session's `Janitor` (cleans whatever is left
when the session ends, e.g. after Ctrl-C). Cleanup is undeploy, wait for INACTIVE, delete version;
what cannot be removed becomes a `Leftover` with the full ids, which the report lists as a warning.
"""

from __future__ import annotations

import itertools
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from conformance.client.errors import Nonconformant, TargetServerError, TargetUnreachable, WaitTimeout
from conformance.client.http import NvcfClient, Reply, StatusWatch
from conformance.client.kserve import echo_request
from conformance.errors import ConformanceError
from conformance.report.model import Leftover

from .charts import ChartRef

INFER_MODEL_TOKEN = "nvcf-conformance"
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")


# How often the end-of-session sweep tries a target that does not answer again.
SWEEP_RETRY_PAUSE = 2.0


class CleanupError(ConformanceError):
    """Something a test created could not be removed; reported as ERROR, never hides a FAIL."""

    def __init__(self, leftovers: Sequence[Leftover]) -> None:
        self.leftovers = tuple(leftovers)
        super().__init__("; ".join(leftover.describe() for leftover in self.leftovers))


@dataclass(frozen=True)
class Created:
    function_id: str
    version_id: str
    name: str


class Janitor:
    """Session-wide list of versions not yet cleaned, shared by every test of one process."""

    def __init__(self, on_leftover: Callable[[Leftover], None] | None = None) -> None:
        self._pending: dict[tuple[str, str], Created] = {}
        self._lock = threading.Lock()
        self._on_leftover = on_leftover

    def left(self, leftovers: Iterable[Leftover]) -> None:
        """Hand what cleanup could not remove to whoever records it (the plugin: the report's warnings)."""
        if self._on_leftover is not None:
            for leftover in leftovers:
                self._on_leftover(leftover)

    def add(self, created: Created) -> None:
        with self._lock:
            self._pending[(created.function_id, created.version_id)] = created

    def done(self, created: Created) -> None:
        with self._lock:
            self._pending.pop((created.function_id, created.version_id), None)

    def pending(self) -> list[Created]:
        with self._lock:
            return list(self._pending.values())

    def sweep(self, client: NvcfClient, *, retry_seconds: float | None = None,
              sleep: Callable[[float], None] = time.sleep) -> list[str]:
        """Remove everything still pending. A target that is away for a moment (restarting, 5xx) is
        retried for up to `retry_seconds` in all (default `timeouts.cleanup_retry`), so a blip at the end
        of a run leaves nothing behind."""
        window = client.target.timeout("cleanup_retry") if retry_seconds is None else retry_seconds
        deadline = time.monotonic() + window
        problems = []
        for created in reversed(self.pending()):
            while True:
                leftovers, transient = remove_once(client, created)
                if not (leftovers and transient and time.monotonic() < deadline):
                    break
                sleep(SWEEP_RETRY_PAUSE)
            self.left(leftovers)
            problems += [leftover.describe() for leftover in leftovers]
            self.done(created)
        return problems


def remove(client: NvcfClient, created: Created) -> list[str]:
    """Undeploy (if deployed), wait for INACTIVE, delete the version. Returns problems, never raises."""
    return [leftover.describe() for leftover in remove_once(client, created)[0]]


def remove_once(client: NvcfClient, created: Created) -> tuple[list[Leftover], bool]:
    """`remove`, returning what could not be removed with its full ids, and whether the cause may pass
    (the target did not answer, or answered 5xx) so that trying again later can succeed."""
    fid, vid = created.function_id, created.version_id

    def leftover(problem: str) -> Leftover:
        # The ids travel as fields, not inside the text: messages get shortened, the ids must not be.
        return Leftover(fid, vid, created.name, " ".join(problem.split()))

    leftovers: list[Leftover] = []
    try:
        undeploy = client.delete_deployment(fid, vid)
        if undeploy.ok:
            try:
                client.wait_for_status(fid, vid, {"INACTIVE", "NOT-FOUND"}, client.target.timeout("undeploy"),
                                       timeout_name="timeouts.undeploy")
            except WaitTimeout as exc:
                leftovers.append(leftover(f"undeploy: {exc}"))
        deleted = client.delete_version(fid, vid)
        if deleted.status_code not in (200, 202, 204, 404):
            leftovers.append(leftover(f"delete: {deleted.describe()}"))
    except (TargetUnreachable, TargetServerError) as exc:
        return [leftover(str(exc))], True
    except Nonconformant as exc:
        leftovers.append(leftover(str(exc)))
    return leftovers, False


@dataclass
class DeployedFunction:
    """A function version the harness deployed, with what it saw on the way."""

    chart: ChartRef
    function_id: str
    version_id: str
    name: str
    deploy_reply: Reply
    watch: StatusWatch
    client: NvcfClient = field(repr=False)

    @property
    def status(self) -> str:
        return self.watch.final

    def infer(self, text: str = INFER_MODEL_TOKEN, **kwargs: Any) -> Any:
        """A KServe v2 echo inference through pexec (polling included)."""
        return self.client.invoke(self.function_id, echo_request(text), **kwargs)

    def probe(self, path: str = "/probe", **kwargs: Any) -> Reply:
        """The mini-service's self-description (headers, env, mounted values, pod) via pass-through."""
        return self.client.passthrough(self.function_id, "GET", path, **kwargs)


class Functions:
    """The per-test factory behind the `functions` and `deployed_function` fixtures."""

    _counter = itertools.count(1)

    def __init__(self, client: NvcfClient, run_id: str, worker: str, janitor: Janitor) -> None:
        self.client = client
        self.run_id = run_id
        self.worker = worker
        self.janitor = janitor
        self.created: list[Created] = []

    def name(self, case: str | None = None) -> str:
        """`nvcfc-<run>-<worker>-<n>-<case>`: unique per run, so parallel runs never collide."""
        seq = next(self._counter)
        worker = self.worker.replace("gw", "w") if self.worker != "main" else "m"
        raw = f"nvcfc-{self.run_id}-{worker}{seq}-{secrets.token_hex(2)}" + (f"-{case}" if case else "")
        return _NAME_CHARS.sub("-", raw)[:128]

    def track(self, reply: Reply, name: str) -> Created | None:
        """Register a created version (from a 2xx create answer) for cleanup."""
        if not reply.ok or not isinstance(reply.body, dict):
            return None
        function = reply.body.get("function")
        if not isinstance(function, dict) or not function.get("id") or not function.get("versionId"):
            return None
        created = Created(str(function["id"]), str(function["versionId"]), name)
        self.created.append(created)
        self.janitor.add(created)
        return created

    def create(self, chart: ChartRef, *, name: str | None = None, **overrides: Any) -> Reply:
        name = self.name(chart.case) if name is None else name
        reply = self.client.create_function(chart.function_body(name, **overrides))
        self.track(reply, name)
        return reply

    def create_version(self, function_id: str, chart: ChartRef, *, name: str, **overrides: Any) -> Reply:
        reply = self.client.create_version(function_id, chart.function_body(name, **overrides))
        self.track(reply, name)
        return reply

    def spec(self, chart: ChartRef | None = None, *, configuration: dict[str, Any] | None = None,
             **overrides: Any) -> dict[str, Any]:
        """A deployment specification from the target's defaults (the chart's own GPU/type if it has one)."""
        base: dict[str, Any] = {}
        if chart is not None and chart.instance_type and chart.gpu:
            base = {"gpu": chart.gpu, "instanceType": chart.instance_type}
        spec = self.client.target.deployment_spec(**{**base, **overrides})  # explicit overrides win
        if configuration is not None:
            spec["configuration"] = configuration
        return spec

    def deploy(self, function_id: str, version_id: str, spec: dict[str, Any]) -> Reply:
        return self.client.create_deployment(function_id, version_id, [spec])

    def wait(self, function_id: str, version_id: str, wanted: set[str], timeout_name: str) -> StatusWatch:
        return self.client.wait_for_status(function_id, version_id, wanted,
                                           self.client.target.timeout(timeout_name.removeprefix("timeouts.")),
                                           timeout_name=timeout_name)

    def deployed(self, chart: ChartRef, *, configuration: dict[str, Any] | None = None,
                 spec: dict[str, Any] | None = None, **body: Any) -> DeployedFunction:
        """Create, deploy and wait for ACTIVE; a refusal or ERROR is a FAIL (the chart must deploy)."""
        return self.activate(chart, self.create(chart, **body), configuration=configuration, spec=spec)

    def deployed_version(self, of: DeployedFunction, *, configuration: dict[str, Any] | None = None,
                         spec: dict[str, Any] | None = None) -> DeployedFunction:
        """Another version of `of`'s function from the same chart, deployed beside it and ACTIVE."""
        created = self.create_version(of.function_id, of.chart, name=of.name)
        return self.activate(of.chart, created, configuration=configuration, spec=spec)

    def activate(self, chart: ChartRef, created: Reply, *, configuration: dict[str, Any] | None = None,
                 spec: dict[str, Any] | None = None) -> DeployedFunction:
        """Deploy a function the test created (its create answer) and wait for ACTIVE; anything else FAILs
        (which the plugin turns into an ERROR when the run's set-up caused it)."""
        if not created.ok:
            raise Nonconformant(f"function creation refused: {created.describe()}", "refused-unexpectedly")
        function = created.field("function")
        fid, vid, name = str(function["id"]), str(function["versionId"]), str(function.get("name"))
        if spec is None:
            spec = self.spec(chart, configuration=configuration)
        elif configuration is not None:
            spec = {**spec, "configuration": configuration}  # a given spec still takes the overrides
        deploy = self.deploy(fid, vid, spec)
        if not deploy.ok:
            raise Nonconformant(f"deployment refused: {deploy.describe()}", "refused-unexpectedly")
        watch = self.wait(fid, vid, {"ACTIVE", "ERROR"}, "timeouts.deploy_active")
        if watch.final != "ACTIVE":
            reason = self.client.failure_reason(fid, vid) or "no reason given"
            raise Nonconformant(f"deployment ended in {watch.final} ({' → '.join(watch.history)}): {reason}",
                                "refused-unexpectedly")
        return DeployedFunction(chart, fid, vid, name, deploy, watch, self.client)

    def cleanup(self) -> None:
        leftovers: list[Leftover] = []
        for created in reversed(self.created):
            removed, transient = remove_once(self.client, created)
            leftovers += removed
            if transient:
                continue  # stays with the janitor, whose sweep at the session's end tries again
            self.janitor.done(created)
            self.janitor.left(removed)
        self.created.clear()
        if leftovers:
            raise CleanupError(leftovers)
