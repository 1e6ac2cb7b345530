"""The shape of `rules.yaml` and the closed vocabularies its rules draw from.

The vocabularies live here, in code, so the JSON Schema, the loader, the CLI and the pytest plugin all
read one definition; each term carries the description that documents it.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Final

LEVELS: Final = MappingProxyType(
    {
        "MUST": "A requirement the NVIDIA documentation states; breaking it is a FAIL of the implementation.",
        "SHOULD": "A documented recommendation, limitation or announced future enforcement.",
        "EXT": "Behaviour of NVIDIA's open-source NVCF that the documentation does not state (opt-in).",
    }
)

# A rule is in scope for a run when the run claims *every* profile the rule lists. `core` is always
# claimed and `white-box` is claimed by giving a kubeconfig, so `[core, white-box]` reads "a core rule
# whose evidence is cluster objects"; the black-box part of such a behaviour is a separate rule.
PROFILES: Final = MappingProxyType(
    {
        "core": "Every implementation claims it.",
        "security-current": (
            "The documented stance today: charts that miss the recommended security standards still deploy."
        ),
        "security-enforced": (
            "The announced stance: such charts are refused, or modified so they conform. "
            "A run claims exactly one of the two security profiles."
        ),
        "multinode": "The backend offers full-node multi-node instance types (at least two GPU nodes).",
        "grpc": "The backend serves gRPC helm-based functions.",
        "white-box": "A kubeconfig for the backend's cluster is given; the evidence is the cluster's objects.",
        "ext": "Undocumented behaviour of NVIDIA's open-source NVCF; claimed to compare with that stack.",
    }
)

# Exclusive pairs: a vendor picks one stance, so no rule may need both.
EXCLUSIVE_PROFILES: Final = (frozenset({"security-current", "security-enforced"}),)

# Every outcome names what the harness observed for one case. A refusal counts in any wording: what
# its text names is judged by the derived SHOULD rule REFUSAL-NAMES-OFFENDER, and that the offence
# caused it is proven by the chart's fixed twin (which must deploy).
OUTCOMES: Final = MappingProxyType(
    {
        "refused-at-creation": "Function creation is answered 4xx.",
        "refused-at-deployment": "Function creation succeeds; deployment creation is answered 4xx.",
        "deployment-error": (
            "The deployment is accepted, then the function ends in ERROR within the deployment timeout "
            "(with a reason in the function, deployment or instance status, when the backend gives one)."
        ),
        "refusal-names-offender": (
            "A conformant refusal's error text names the offending item (kind, object, volume, Service, port, "
            "version, field) in a form a chart author can act on."
        ),
        "deployed-conformant": (
            "The function reaches ACTIVE, the mini-service answers, and the rule's statement holds with "
            "the chart's objects as rendered."
        ),
        "deployed-modified-conformant": (
            "The function reaches ACTIVE and the mini-service answers; the implementation changed the "
            "offending object so that it conforms (verified on cluster objects when white-box)."
        ),
        "deployed-object-skipped": (
            "The function reaches ACTIVE and the mini-service answers; the offending objects (hooks, CRDs) "
            "never exist in the cluster, the rest of the chart does (white-box evidence)."
        ),
        "http-2xx": "The API call succeeds (200 or 201) with the documented body shape and values.",
        "http-204": "The API call succeeds with 204 No Content.",
        "http-400": "The API call is answered 400 Bad Request.",
        "http-401": "The API call is answered 401 Unauthorized: it carried no credential, or one never issued.",
        "http-403": "The API call is answered 403 Forbidden: a known credential without the scope it needs.",
        "http-404": "The API call is answered 404 Not Found.",
        "problem-details": (
            "The error answer is RFC 7807/9457 problem details: application/problem+json carrying status "
            "(equal to the HTTP code) and detail; type and title are optional (an absent type is about:blank)."
        ),
        "invocation-answered": (
            "The invocation returns the mini-service's own answer (status, body, echoed request) through NVCF."
        ),
        "invocation-answered-after-poll": (
            "The invocation is answered 202 with a request id; polling the status endpoint with that id "
            "later returns the mini-service's answer."
        ),
        "invocation-refused": (
            "NVCF answers the invocation with an error status of its own; no mini-service is reached."
        ),
        "lifecycle-as-documented": (
            "The function statuses observed over time follow the documented transitions for the step under test."
        ),
    }
)

# What a classifier may report that is never conformant; kept here so reports and the plugin share the
# words, and kept out of OUTCOMES so no rule can list one.
NONCONFORMANT_OBSERVATIONS: Final = MappingProxyType(
    {
        "deployed-violating": "ACTIVE with the violation inside the cluster or the answer.",
        "refused-not-naming-offender": "Refused or ERROR, but the error does not name the offending item.",
        "refused-unexpectedly": "A chart or request that must be accepted was refused.",
        "timed-out": "No terminal state (ACTIVE, ERROR, refusal) within the named timeout.",
        "unexpected-http-status": "The API answered with a status outside the rule's outcome set.",
        "wrong-answer": "The invocation returned something other than the mini-service's answer.",
    }
)

# Where a rule's `doc` may point: the documented behaviour for MUST/SHOULD, the implementation notes
# only for EXT (those notes describe one implementation, not the spec).
DOC_SOURCES_SPEC: Final = ("helm-based-functions", "nvcf-api-notes")
DOC_SOURCES_EXT: Final = ("nvcf-implementation-notes",)

# Section slugs of helm-based-functions.txt (headings and the named blocks under "Limitations");
# the API and implementation notes are cited by their numbered sections or §6 table rows ("6.8").
HELM_DOC_SECTIONS: Final = MappingProxyType(
    {
        "prerequisites": "Prerequisites",
        "pull-secret-management": "Pull Secret Management",
        "create-a-helm-based-function": "Create a Helm-based Function (incl. the gRPC note)",
        "multi-node-helm-deployment": "Multi-node helm deployment",
        "security-constraints": "Limitations / 3. Security Constraints (processing and modification)",
        "restrictions": "Limitations / 3. Security Constraints / Restrictions",
        "restrictions/crd-note": "Restrictions: the note on CustomResourceDefinitions",
        "security-standards": "Restrictions: the standards charts should meet (not enforced now)",
        "helm-chart-overrides": "Helm Chart Overrides",
    }
)
NUMBERED_SECTION_PATTERN: Final = r"^\d+(?:\.\d+)*$"

ID_PATTERN: Final = r"^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+$"
CASE_PATTERN: Final = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
DOC_PATTERN: Final = r"^(?:" + "|".join(DOC_SOURCES_SPEC + DOC_SOURCES_EXT) + r")#[a-z0-9][a-z0-9.\-/]*$"

REQUIRED_FIELDS: Final = ("id", "level", "profiles", "doc", "statement", "outcomes")
OPTIONAL_FIELDS: Final = ("charts", "params", "divergence", "notes", "derived")

# A derived rule has no tests of its own: its results come from the items of other rules.
DERIVED: Final = MappingProxyType(
    {
        "refusals": (
            "Judged on every conformant refusal the other rules' tests observe (its charts are theirs): "
            "PASS when the refusal's text names the offence, FAIL when it does not."
        ),
    }
)

_ONE_LINE = r"^[^\n]+$"


def _string_set(enum: list[str] | None = None, pattern: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "string"}
    if enum is not None:
        item["enum"] = enum
    if pattern is not None:
        item["pattern"] = pattern
    return {"type": "array", "minItems": 1, "uniqueItems": True, "items": item}


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of `rules.yaml`, built from the vocabularies above."""
    rule: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "required": list(REQUIRED_FIELDS),
        "properties": {
            "id": {"type": "string", "pattern": ID_PATTERN, "description": "Stable UPPER-KEBAB id."},
            "level": {"enum": list(LEVELS), "description": "; ".join(f"{k}: {v}" for k, v in LEVELS.items())},
            "profiles": {**_string_set(list(PROFILES)), "description": "In scope when all are claimed."},
            "doc": {
                "type": "string",
                "pattern": DOC_PATTERN,
                "description": "Source and section, e.g. helm-based-functions#restrictions.",
            },
            "statement": {
                "type": "string",
                "minLength": 20,
                "maxLength": 400,
                "pattern": _ONE_LINE,
                "description": "One sentence: the behaviour a test asserts.",
            },
            "outcomes": {
                **_string_set(list(OUTCOMES)),
                "description": "The conformant outcome set: any one of them is a PASS.",
            },
            "charts": {
                **_string_set(pattern=CASE_PATTERN),
                "description": "Sample-chart case ids the rule's tests deploy or create functions with.",
            },
            "params": {
                "type": "array",
                "minItems": 1,
                "uniqueItems": True,
                "items": {"type": ["string", "integer"]},
                "description": "What a test parametrises over; pairs with charts by position when several.",
            },
            "divergence": {
                "type": "string",
                "minLength": 10,
                "pattern": _ONE_LINE,
                "description": "Where NVIDIA's open-source NVCF behaves otherwise.",
            },
            "notes": {
                "type": "string",
                "minLength": 10,
                "pattern": _ONE_LINE,
                "description": "A hint for the test author (how the case is driven).",
            },
            "derived": {
                "enum": list(DERIVED),
                "description": "; ".join(f"{k}: {v}" for k, v in DERIVED.items()),
            },
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "nvcf-conformance rule catalog",
        "type": "object",
        "additionalProperties": False,
        "required": ["version", "rules"],
        "properties": {
            "version": {"const": 1},
            "rules": {"type": "array", "minItems": 1, "items": rule},
        },
    }
