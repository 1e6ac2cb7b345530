"""The cluster inspector: white-box evidence from the backend's cluster, found by the charts' run labels."""

from conformance.inspect.cluster import (
    CASE_LABEL,
    GPU_PRODUCT_LABEL,
    RUN_LABEL,
    Inspector,
    InspectorBlind,
    PodPlacement,
    hook_objects,
    summary,
)

__all__ = [
    "CASE_LABEL", "GPU_PRODUCT_LABEL", "RUN_LABEL", "Inspector", "InspectorBlind", "PodPlacement", "hook_objects",
    "summary",
]
