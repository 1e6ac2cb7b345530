"""Rendered objects and the pod specs inside them, read defensively (chart output is untrusted)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

HOOK_ANNOTATION = "helm.sh/hook"

# Where each pod-bearing kind keeps its pod spec, and the metadata that goes with it.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


def dig(obj: Any, *path: str) -> Any:
    """obj[path[0]][path[1]]…, or None as soon as a step is missing or not a map."""
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


@dataclass
class Manifest:
    """One rendered document that parsed to a Kubernetes-shaped object."""

    obj: dict[str, Any]
    source: str  # the template it came from, as helm's `# Source:` line names it
    index: int  # position in helm's output
    size: int  # bytes of the document including its `# Source:` line
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def api_version(self) -> str:
        value = self.obj.get("apiVersion")
        return value if isinstance(value, str) else ""

    @property
    def kind(self) -> str:
        value = self.obj.get("kind")
        return value if isinstance(value, str) else ""

    @property
    def name(self) -> str:
        value = dig(self.obj, "metadata", "name")
        return value if isinstance(value, str) else ""

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name or '(unnamed)'}"

    @property
    def is_list(self) -> bool:
        """`kind: List` (or a typed `*List`): a container of objects rather than an object."""
        return self.kind == "List" or (self.kind.endswith("List") and "items" in self.obj)

    @property
    def annotations(self) -> dict[str, Any]:
        return as_dict(dig(self.obj, "metadata", "annotations"))

    @property
    def is_hook(self) -> bool:
        return HOOK_ANNOTATION in self.annotations

    @property
    def hook_events(self) -> tuple[str, ...]:
        value = self.annotations.get(HOOK_ANNOTATION)
        return tuple(e.strip() for e in str(value or "").split(",") if e.strip())

    @property
    def is_crd(self) -> bool:
        return self.kind == "CustomResourceDefinition" and self.api_version.startswith("apiextensions.k8s.io/")

    @property
    def in_subchart(self) -> bool:
        """Rendered from a dependency: helm names those sources `PARENT/charts/SUB/...`."""
        parts = self.source.split("/")
        return len(parts) > 3 and parts[1] == "charts"

    def pod_spec(self) -> dict[str, Any] | None:
        path = POD_SPEC_PATHS.get(self.kind)
        spec = dig(self.obj, *path) if path else None
        return spec if isinstance(spec, dict) else None

    def pod_metadata(self) -> dict[str, Any] | None:
        """The metadata that travels with the pod spec (the object's own for a Pod, else the template's)."""
        path = POD_SPEC_PATHS.get(self.kind)
        if not path:
            return None
        meta = dig(self.obj, *path[:-1], "metadata")
        return meta if isinstance(meta, dict) else None


def containers(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(field, container) for every container a pod spec runs, init and ephemeral ones included."""
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for item in as_list(spec.get(key)):
            if isinstance(item, dict):
                yield key, item


def container_name(container: dict[str, Any]) -> str:
    name = container.get("name")
    return name if isinstance(name, str) and name else "(unnamed)"
