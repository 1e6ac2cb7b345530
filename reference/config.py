"""Server settings, gathered in one immutable object the app factory and the CLI share."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from conformance.errors import ConfigError

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
# The open-source invocation service waits 60 s by default and refuses anything above an hour.
DEFAULT_POLL_SECONDS = 60
STREAMING_POLL_SECONDS = 20 * 60
MAX_POLL_SECONDS = 3600

# Rule ids look like the catalog's (`KIND-FORBIDDEN`, `VOL-ALLOWED`); only the shape is checked here so
# the reference stays independent of the harness's catalog.
_RULE_ID = re.compile(r"^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*$")

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

    def violates(self, rule: str) -> bool:
        return rule in self.violations


def parse_violations(values: list[str] | None) -> frozenset[str]:
    """`--violate A,B --violate C` → {A, B, C}; ids are upper-cased and checked for shape."""
    rules: set[str] = set()
    for value in values or []:
        for item in value.split(","):
            rule = item.strip().upper()
            if not rule:
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
