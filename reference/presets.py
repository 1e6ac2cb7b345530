"""Personalities: the reference made to behave like a known implementation, by name.

A personality is data: the catalog rules it breaks (each with the reason), the `--violate` mutants
that realise some of those, and the named settings (`reference.config.Behaviour`, plus where pexec
is served) that realise the rest. `reference serve --preset NAME` resolves it into the server's
config and the back half's settings (reference/cli.py); an explicit flag still wins over it.

`nvcf-oss-shipped` is NVIDIA's open-source NVCF (`NVIDIA/nvcf` at fadc0f81) as its deploy defaults
ship it: helm-reval with `skipValidateObjects: true`, the NVCA validation policy `Unrestricted`, the
Rust invocation service behind `invocation.<gw>`. reference/README.md says which NVIDIA source each
setting follows. A run of the suites against it shows what the harness reports for that stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from reference.config import Behaviour
from reference.errors import ConfigError


@dataclass(frozen=True)
class Personality:
    name: str
    summary: str
    # Catalog rule id → why this implementation breaks it (a test checks the ids against the catalog).
    breaks: Mapping[str, str]
    # The ids among `breaks` that the matching `--violate` mutant reproduces; the others follow from
    # `behaviour` (or from the pexec layout).
    mutants: frozenset[str] = frozenset()
    behaviour: Behaviour = field(default_factory=Behaviour)
    # NVIDIA's API host has only a stub pexec controller that answers 404.
    pexec_on_api_host: bool = True


NVCF_OSS_SHIPPED = Personality(
    name="nvcf-oss-shipped",
    summary="NVIDIA's open-source NVCF with its shipped defaults (skipValidateObjects, policy Unrestricted)",
    breaks={
        "RESTRICTIONS-CHECKED-AT-CREATION": "the chart is validated at deployment creation only",
        "CRD-CHART-DEPLOYS": "CustomResourceDefinitions are rendered and refused by the kind allow-list, not skipped",
        "OBJECTS-OVER-300-REFUSED": "the object limit is checked as document index > 300, so 301 objects pass",
        "GRPC-URL-MARKS-FUNCTION": "only an exact lower-case `/grpc` marks a gRPC function, not the documented `/gRPC`",
        "SVC-TYPE-FORBIDDEN": "the Service type check is only logged with skipValidateObjects",
        "SVC-NAME-MISMATCH-REFUSED": "the service name check is only logged with skipValidateObjects",
        "SVC-PORT-MISMATCH-REFUSED": "the service port check is only logged with skipValidateObjects",
        "VOL-FORBIDDEN": "the volume type check is only logged with skipValidateObjects",
        "VOL-PROJECTED-SOURCE-FORBIDDEN": "the projected-source check is only logged with skipValidateObjects",
        "OVERRIDES-VALIDATED": "object checks are off, so an override that adds a hostPath volume deploys",
        "CHART-REF-OTHER-FORM-REFUSED": "Helm reads any OCI reference: `oci://.../NAME:TAG` and `.../charts/NAME` "
                                        "(its newest tag) deploy",
        "CHART-NAME-SYMBOLS-REFUSED": "no chart-name grammar: `_` and `.` deploy when the registry holds the chart",
        "DOC-EXAMPLE-DEPLOY-BODY": "instanceType is required (`@NotBlank`): the page's override example is a 400",
        "DOC-EXAMPLE-GRPC-NOTE": "only `inferenceUrl` is read: the note's `inferenceURL` leaves it missing",
    },
    mutants=frozenset({
        "RESTRICTIONS-CHECKED-AT-CREATION", "CRD-CHART-DEPLOYS", "OBJECTS-OVER-300-REFUSED", "GRPC-URL-MARKS-FUNCTION",
    }),
    behaviour=Behaviour(
        refusal_texts="nvidia", chart_references="helm", object_checks="logged",
        inactive_invocation="404-first", problem_type_on_validation=False, page_examples=False,
        update_fixed_fields="ignored",
    ),
    pexec_on_api_host=False,
)

PERSONALITIES: dict[str, Personality] = {p.name: p for p in (NVCF_OSS_SHIPPED,)}


def personality(names: list[str] | None) -> Personality | None:
    """The one personality `--preset` names (None without one); two different ones are refused."""
    chosen = sorted(set(names or []))
    for name in chosen:
        if name not in PERSONALITIES:
            raise ConfigError(f"--preset {name!r}: unknown preset (known: {', '.join(sorted(PERSONALITIES))})")
    if len(chosen) > 1:
        raise ConfigError(f"--preset: give one personality, not {len(chosen)} ({', '.join(chosen)})")
    return PERSONALITIES[chosen[0]] if chosen else None


def preset_violations(names: list[str] | None) -> frozenset[str]:
    """The `--violate` mutants the named personality switches on."""
    found = personality(names)
    return found.mutants if found else frozenset()
