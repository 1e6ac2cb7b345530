"""Server-side apply of a prepared chart, object by object, in helm's install order.

Server-side apply (field manager `nvcf-reference`) makes a resumed or repeated deploy idempotent:
applying the same objects again is a no-op rather than a conflict. Kinds are looked up through
discovery, so anything the cluster serves can be applied; what the chart may contain was decided
before this point by the chart pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kubernetes.dynamic.exceptions import ResourceNotFoundError

from reference.backend.cluster.kube import ApiException, Kube, api_error
from reference.charts.objects import dig


class ApplyError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Planned:
    obj: dict[str, Any]
    resource: Any  # kubernetes.dynamic Resource
    namespaced: bool

    @property
    def ref(self) -> str:
        return f"{self.obj.get('kind')}/{dig(self.obj, 'metadata', 'name')}"

    @property
    def cluster_key(self) -> tuple[str, str, str]:
        return (str(self.obj.get("apiVersion")), str(self.obj.get("kind")), str(dig(self.obj, "metadata", "name")))


def plan(kube: Kube, manifests: Sequence[dict[str, Any]]) -> list[Planned]:
    """Resolve every object's kind against the cluster; blocking (run it in a thread)."""
    planned = []
    for obj in manifests:
        api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
        try:
            resource = kube.resource(api_version, kind)
        except ResourceNotFoundError:
            name = dig(obj, "metadata", "name")
            raise ApplyError(f"{kind}/{name}: the cluster does not serve kind {kind} at {api_version}") from None
        planned.append(Planned(obj, resource, bool(resource.namespaced)))
    return planned


def apply(kube: Kube, planned: Sequence[Planned], namespace: str, *, field_manager: str) -> list[str]:
    """Apply each planned object; blocking. Returns the `Kind/name` of each, in order."""
    done = []
    for item in planned:
        try:
            kube.dynamic.server_side_apply(
                item.resource, body=item.obj, namespace=namespace if item.namespaced else None,
                field_manager=field_manager, force_conflicts=True,
            )
        except ApiException as exc:  # the dynamic client's errors are ApiExceptions too
            raise ApplyError(f"{item.ref}: the cluster refused it: {api_error(exc)}") from None
        done.append(item.ref)
    return done

