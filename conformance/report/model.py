"""The data a run produces, shared by the pytest plugin (which records it) and the report writers.

Statuses follow DESIGN.md: PASS, FAIL (the implementation broke a rule), ERROR (the harness or the
environment failed — never a conformance verdict), SKIP (an optional profile not claimed; a MUST never
skips), XFAIL/XPASS (expectation files, nightly only). Everything here is already redacted: no token,
API key or registry password may be stored in these objects.

FLAKY is never written by the plugin: the report derives it for an item that was rerun
(`run --rerun-failures N`) and both passed and failed (or errored) across its attempts; see
conformance/report/attempts.py for how it is derived and verdict.py for what it counts as.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["PASS", "FAIL", "ERROR", "SKIP", "XFAIL", "XPASS", "FLAKY"]
STATUSES: tuple[str, ...] = ("PASS", "FAIL", "ERROR", "SKIP", "XFAIL", "XPASS")  # what a results file may hold
FLAKY = "FLAKY"  # derived by the report from an item's attempts, never recorded by the plugin
Verdict = Literal["success", "partial", "failure", "error"]

# The results folder, besides `results-<worker>.jsonl` and `run-meta.json`. One file per pytest process,
# like the results: under xdist the workers collect and clean up, the controller does neither.
COLLECTED_FILE = "collected-{worker}.json"  # {"rules": {rule id: [nodeid, ...]}}: the items meant to run
GRPC_FACT_FILE = "grpc-inference-url.json"  # {"inferenceUrl", "how"}: the gRPC spelling the run used
LEFTOVERS_FILE = "leftovers-{worker}.jsonl"  # one `Leftover` per line: what cleanup could not remove
# Reruns (`run --rerun-failures N`): attempt n ≥ 2 is a results folder of its own inside the run's, written
# by the same plugin, and RERUNS_FILE (written by `run`) says which items each attempt reran.
ATTEMPT_DIR = "attempt-{n}"
RERUNS_FILE = "reruns.json"


@dataclass(frozen=True)
class Exchange:
    """One HTTP or gRPC exchange with the implementation, redacted, for transcripts and repro bundles."""

    method: str
    url: str
    request_headers: dict[str, str]
    request_body: str | None
    status: int | str | None  # HTTP status, gRPC code name, or None when no answer came
    response_headers: dict[str, str]
    response_body: str | None
    elapsed_s: float
    error: str | None = None  # transport error (timeout, refused), when there was no answer


@dataclass(frozen=True)
class Attempt:
    """One run of an item that was rerun: attempt 1 is the run itself, 2… the reruns."""

    attempt: int
    status: str  # a plugin status (STATUSES)
    message: str = ""
    outcome: str | None = None
    duration_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TestResult:
    """The outcome of one test item (one rule, one case, one parameter)."""

    nodeid: str
    rule_id: str
    level: str  # MUST | SHOULD | EXT
    profiles: tuple[str, ...]
    status: Status
    case: str | None = None  # sample chart case id, when the test used one
    param: str | None = None
    message: str = ""  # one line: why it failed/errored/skipped, or what was observed
    outcome: str | None = None  # observed outcome word from the catalog vocabulary, when known
    duration_s: float = 0.0
    transcript: tuple[Exchange, ...] = ()
    cluster_objects: tuple[dict[str, Any], ...] = ()  # what the inspector saw, if anything
    chart_package: str | None = None  # path of the .tgz the case used
    chart_digest: str | None = None
    rerun: str | None = None  # the one command that reruns just this item
    attempts: tuple[Attempt, ...] = ()  # every attempt, when the item was rerun (set by the report only)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Leftover:
    """A function version the harness created and could not clean up, with the ids to delete it by hand."""

    function_id: str
    version_id: str
    name: str
    problem: str  # why: the failed request or timeout, one line

    def describe(self) -> str:
        return (f"function {self.function_id} version {self.version_id} ({self.name}) may be left on the "
                f"backend: {self.problem}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunMeta:
    """What the report says about the run as a whole."""

    run_id: str
    harness_version: str
    implementation: str  # name the target reported or was configured with
    implementation_version: str
    profiles: tuple[str, ...]  # the profiles claimed for this run
    target: dict[str, Any]  # the effective target config, redacted
    started_at: str  # ISO-8601 UTC
    finished_at: str | None = None
    complete: bool = True  # False when the run was interrupted or aborted
    charts: dict[str, dict[str, Any]] = field(default_factory=dict)  # case id → {chart, version, digest, helmChart}
    command: str = ""  # how the run was started (shown to people; never parsed back)
    # What the run was limited to, as {rules: [...], cases: [...]} (empty lists: the full catalog).
    selection: dict[str, list[str]] = field(default_factory=dict)
    settings: list[str] = field(default_factory=list)  # the run's `--set KEY=VALUE` flags (never secrets)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
