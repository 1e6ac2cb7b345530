"""Named sets of mutants that reproduce a known implementation's behaviour.

`nvcf-oss-shipped` is NVIDIA's open-source NVCF as its deploy defaults ship it (helm-reval with
`skipValidateObjects: true`, the NVCA policy `Unrestricted`; see the catalog's `divergence` notes):
a run against `reference serve --preset nvcf-oss-shipped` shows what the harness reports for that stack.
Each entry is a catalog rule the preset breaks, and why.
"""

from __future__ import annotations

from conformance.errors import ConfigError

PRESETS: dict[str, dict[str, str]] = {
    "nvcf-oss-shipped": {
        "RESTRICTIONS-CHECKED-AT-CREATION": "the chart is validated at deployment creation only",
        "CRD-CHART-DEPLOYS": "CustomResourceDefinitions are rendered and refused by the kind allow-list, not skipped",
        "OBJECTS-OVER-300-REFUSED": "the object limit is checked as index > 300, so 301 objects pass",
        "SVC-TYPE-FORBIDDEN": "the Service type check is off with skipValidateObjects",
        "SVC-NAME-MISMATCH-REFUSED": "the service name check is off with skipValidateObjects",
        "SVC-PORT-MISMATCH-REFUSED": "the service port check is off with skipValidateObjects",
        "VOL-FORBIDDEN": "the volume type check is off with skipValidateObjects",
        "VOL-PROJECTED-SOURCE-FORBIDDEN": "the projected-source check is off with skipValidateObjects",
        "GRPC-URL-MARKS-FUNCTION": "only an exact lower-case `/grpc` marks a gRPC function, not the documented `/gRPC`",
    },
}


def preset_violations(names: list[str] | None) -> frozenset[str]:
    rules: set[str] = set()
    for name in names or []:
        if name not in PRESETS:
            raise ConfigError(f"--preset {name!r}: unknown preset (known: {', '.join(sorted(PRESETS))})")
        rules.update(PRESETS[name])
    return frozenset(rules)
