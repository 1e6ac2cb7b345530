"""One namespace per function version: its name, its labels, creating it and removing it for good.

A namespace is the unit of cleanup: deleting it removes everything the chart made in it. What it
cannot hold (cluster-scoped objects, which only a mutant lets through) is listed in an annotation on
it, so an undeploy after a restart still knows what else to delete.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

from reference.backend.cluster.kube import ApiException, Kube, api_error
from reference.charts.mutate import VERSION_LABEL
from reference.charts.objects import dig

MANAGED_BY = "nvcf-reference"
FUNCTION_LABEL = "nvcf.reference/function-id"
DEPLOYMENT_LABEL = "nvcf.reference/deployment-id"
# Set once every object has been applied: a resumed deploy only re-applies when it is missing.
APPLIED_ANNOTATION = "nvcf.reference/applied"
CLUSTER_OBJECTS_ANNOTATION = "nvcf.reference/cluster-objects"
FUNCTION_NAME_ANNOTATION = "nvcf.reference/function-name"

_NOT_DNS = re.compile(r"[^a-z0-9-]+")


class NamespaceError(Exception):
    pass


def namespace_name(prefix: str, version_id: str) -> str:
    """`nvcf-<version id>` as a DNS label (the id is a UUID, which already is one)."""
    body = _NOT_DNS.sub("-", version_id.lower()).strip("-")
    return f"{prefix}{body}"[:63].rstrip("-")


def labels(function_id: str, version_id: str, deployment_id: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        FUNCTION_LABEL: function_id,
        VERSION_LABEL: version_id,
        DEPLOYMENT_LABEL: deployment_id,
    }


def is_terminating(ns: dict[str, Any]) -> bool:
    return bool(dig(ns, "metadata", "deletionTimestamp")) or dig(ns, "status", "phase") == "Terminating"


def annotations(ns: dict[str, Any]) -> dict[str, str]:
    found = dig(ns, "metadata", "annotations")
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def cluster_objects(ns: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(apiVersion, kind, name) of the cluster-scoped objects recorded on the namespace."""
    try:
        raw = json.loads(annotations(ns).get(CLUSTER_OBJECTS_ANNOTATION, "[]"))
    except ValueError:
        return []
    if not isinstance(raw, list):
        return []
    return [(str(e[0]), str(e[1]), str(e[2])) for e in raw if isinstance(e, list) and len(e) == 3]


async def create(kube: Kube, name: str, ns_labels: dict[str, str], extra_annotations: dict[str, str],
                 *, pod_security_enforce: str | None, timeout: float) -> None:
    """Create the namespace fresh; one left over from an earlier deployment is removed first."""
    existing = await kube.namespace(name)
    if existing is not None:
        await delete(kube, name, timeout=timeout)
    meta_labels = dict(ns_labels)
    if pod_security_enforce:
        meta_labels["pod-security.kubernetes.io/enforce"] = pod_security_enforce
    body = {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": meta_labels, "annotations": extra_annotations}}
    try:
        await kube.run(kube.core.create_namespace, body)
    except ApiException as exc:
        raise NamespaceError(f"creating namespace {name} failed: {api_error(exc)}") from None


async def annotate(kube: Kube, name: str, values: dict[str, str]) -> None:
    await kube.run(kube.core.patch_namespace, name, {"metadata": {"annotations": values}})


async def delete(kube: Kube, name: str, *, timeout: float) -> bool:
    """Delete the namespace (and what it recorded outside itself) and wait until it is gone.

    Returns False when there was nothing to delete.
    """
    if not await begin_delete(kube, name):
        return False
    await wait_deleted(kube, name, timeout=timeout)
    return True


async def begin_delete(kube: Kube, name: str) -> bool:
    """Start deleting: afterwards nothing of the function runs or holds resources, but the namespace
    itself lingers for a few seconds (the namespace controller waits on purpose before it empties one)."""
    ns = await kube.namespace(name)
    if ns is None:
        return False
    for api_version, kind, obj_name in cluster_objects(ns):
        await _delete_cluster_object(kube, api_version, kind, obj_name)
    try:
        await kube.run(kube.core.delete_namespace, name, propagation_policy="Background")
    except ApiException as exc:
        if exc.status != 404:
            raise NamespaceError(f"deleting namespace {name} failed: {api_error(exc)}") from None
    # Pods keep a namespace in Terminating for their grace period, and their resources (GPUs) taken;
    # nothing runs in them that needs one (KWOK runs no containers, the local probes are stopped
    # separately). The namespace is terminating already, so no controller can recreate them.
    try:
        await kube.run(kube.core.delete_collection_namespaced_pod, name, grace_period_seconds=0)
    except ApiException as exc:
        if exc.status != 404:
            raise NamespaceError(f"deleting the pods of namespace {name} failed: {api_error(exc)}") from None
    return True


async def wait_deleted(kube: Kube, name: str, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while await kube.namespace(name) is not None:
        if time.monotonic() > deadline:
            raise NamespaceError(f"namespace {name} was still terminating after {timeout:g} s")
        await asyncio.sleep(0.2)


async def _delete_cluster_object(kube: Kube, api_version: str, kind: str, name: str) -> None:
    try:
        resource = await kube.run(kube.resource, api_version, kind)
        await kube.run(kube.dynamic.delete, resource, name=name)
    except ApiException as exc:
        if exc.status != 404:
            raise NamespaceError(f"deleting {kind}/{name} failed: {api_error(exc)}") from None
    except Exception:  # the kind itself may be gone (a CRD removed first): nothing left to delete
        return
