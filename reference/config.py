"""Server settings, gathered in one immutable object the app factory and the CLI share."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from reference.errors import ConfigError

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
# The open-source invocation service waits 60 s by default and refuses anything above an hour.
DEFAULT_POLL_SECONDS = 60
STREAMING_POLL_SECONDS = 20 * 60
MAX_POLL_SECONDS = 3600

# Rule ids look like the catalog's (`KIND-FORBIDDEN`, `VOL-ALLOWED`); only the shape is checked here so
# the reference stays independent of the harness's catalog.
_RULE_ID = re.compile(r"^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*$")
# A test device for the harness's `run --rerun-failures`, not a behaviour of any implementation:
# `--violate FLAKY:RULE` breaks RULE on every other occasion only (the 1st, 3rd, 5th…), so a rerun of the
# failed item passes. Only mutants whose behaviour lives in one place that asks `ServerConfig.breaks`
# once per occasion can do that; they are listed here.
FLAKY_PREFIX = "FLAKY:"
FLAKY_CAPABLE: frozenset[str] = frozenset({"INVOKE-PEXEC-ANSWER"})  # api/invocation.py: the pexec answer

# How the server behaves where NVIDIA's open-source NVCF does something else than the reference's own
# choice. Each is one switch, so a test can flip one alone; a personality (reference/presets.py)
# bundles them. The first value of each is the reference's own behaviour.
RefusalTexts = Literal["reference", "nvidia"]
ChartReferences = Literal["documented", "helm"]
ObjectChecks = Literal["enforced", "logged"]
InactiveInvocation = Literal["503", "404-first"]
REFUSAL_TEXTS: tuple[RefusalTexts, ...] = ("reference", "nvidia")
CHART_REFERENCES: tuple[ChartReferences, ...] = ("documented", "helm")
OBJECT_CHECKS: tuple[ObjectChecks, ...] = ("enforced", "logged")
INACTIVE_INVOCATION: tuple[InactiveInvocation, ...] = ("503", "404-first")
UpdateFixedFields = Literal["refused", "ignored"]
UPDATE_FIXED_FIELDS: tuple[UpdateFixedFields, ...] = ("refused", "ignored")


@dataclass(frozen=True)
class Behaviour:
    """The behaviours a personality can change; the defaults are the reference's own."""

    # "nvidia": refusals say what NVIDIA's stack says (ReVal's errors inside the API's 400 at
    # deployment creation, "Invalid registry URL", "Invalid InstanceType", the invocation service's
    # texts), with the problem `type` NVIDIA's own BadRequestException carries.
    refusal_texts: RefusalTexts = "reference"
    # "helm": `helmChart` is read as Helm reads it (NVIDIA's validator pulls through Helm): an OCI URL
    # names a repository, pulled at its tag or, without one, at its newest release tag; https URLs are
    # downloaded as they are; no documented-form grammar, no name/version check against Chart.yaml.
    chart_references: ChartReferences = "documented"
    # "logged": the checks NVIDIA's validator skips with `skipValidateObjects: true` (Service types,
    # volumes, security contexts, host ports and namespaces, the service name and port) are computed
    # and logged, never refused. Kinds, count, size, names and `kind: List` stay enforced.
    object_checks: ObjectChecks = "enforced"
    # "404-first": invoking a function that cannot serve is 404 (DEGRADED: 400), decided before
    # NVCF-POLL-SECONDS is read, as NVIDIA's invocation service authorises and looks up first.
    inactive_invocation: InactiveInvocation = "503"
    # False: 400s of request validation carry no `type` (Spring leaves it out of bean-validation
    # problems; RFC 9457 reads an absent type as about:blank).
    problem_type_on_validation: bool = True
    # True: requests written as the docs page writes them are taken: the gRPC note's key `inferenceURL`
    # is read as `inferenceUrl`, and a deployment specification without `instanceType` (the page's
    # override example has none) gets one GPU of its `gpu`. False: NVIDIA's API, which reads only
    # `inferenceUrl` and requires `instanceType` (`@NotBlank`).
    page_examples: bool = True
    # What a deployment update does with the fields it cannot change. "refused": a PUT or PATCH that
    # names another gpu, instanceType, backend or clusters is a 400. "ignored": as NVIDIA's API, whose
    # PUT treats gpu and instanceType as read-only (ignored) but refuses another backend or other
    # clusters, and whose PATCH reads only minInstances, maxInstances and the autoscaling fields.
    update_fixed_fields: UpdateFixedFields = "refused"


class Alternation:
    """Counts each flaky mutant's occasions; the odd ones break its rule. Shared by every request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, int] = {}

    def breaks_now(self, rule: str) -> bool:
        with self._lock:
            self._seen[rule] = self._seen.get(rule, 0) + 1
            return self._seen[rule] % 2 == 1


@dataclass(frozen=True)
class ServerConfig:
    db_path: Path
    gateway_domain: str = "127.0.0.1"
    nca_id: str = "nvcf-reference"
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    default_poll_seconds: int = DEFAULT_POLL_SECONDS
    # How long one invocation may take in total before it is answered 504, whoever is waiting for it.
    invocation_timeout_seconds: float = 3600.0
    # NVIDIA's gateway serves pexec only on invocation.<gw>; this server also answers it on the API
    # host unless told not to, so both layouts can be tested.
    pexec_on_api_host: bool = True
    behaviour: Behaviour = field(default_factory=Behaviour)
    # Mutations that break one documented behaviour each. They are only recorded for now; the code
    # that honours them arrives with the chart handling.
    violations: frozenset[str] = field(default_factory=frozenset)
    alternation: Alternation = field(default_factory=Alternation, compare=False, repr=False)

    def violates(self, rule: str) -> bool:
        return rule in self.violations

    def breaks(self, rule: str) -> bool:
        """Whether this occasion breaks `rule`: always under `--violate RULE`, every other time under
        `--violate FLAKY:RULE`. Ask once per occasion (it counts them)."""
        if rule in self.violations:
            return True
        return FLAKY_PREFIX + rule in self.violations and self.alternation.breaks_now(rule)


def parse_violations(values: list[str] | None) -> frozenset[str]:
    """`--violate A,B --violate C` → {A, B, C}; ids are upper-cased and checked for shape. `FLAKY:RULE`
    (the test device above) is kept as it is, for the mutants that can break every other time."""
    rules: set[str] = set()
    for value in values or []:
        for item in value.split(","):
            rule = item.strip().upper()
            if not rule:
                continue
            if rule.startswith(FLAKY_PREFIX):
                if rule.removeprefix(FLAKY_PREFIX) not in FLAKY_CAPABLE:
                    raise ConfigError(f"--violate: '{item.strip()}': only {', '.join(sorted(FLAKY_CAPABLE))} can "
                                      "break every other time (FLAKY:RULE)")
                rules.add(rule)
                continue
            if not _RULE_ID.match(rule):
                raise ConfigError(
                    f"--violate: '{item.strip()}' is not a rule id (expected upper-case words joined by '-',"
                    " e.g. KIND-FORBIDDEN)"
                )
            rules.add(rule)
    return frozenset(rules)


def normalise_gateway(domain: str) -> str:
    """Lower-case, without scheme, port or trailing dot: what Host headers are compared against."""
    value = domain.strip().lower()
    value = value.split("://", 1)[-1].split("/", 1)[0].rstrip(".")
    return strip_port(value)


def strip_port(host: str) -> str:
    if host.startswith("["):  # IPv6 literal: [::1]:8080
        end = host.find("]")
        return host[: end + 1] if end != -1 else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
