"""Stand-in volumes for claims on a KWOK cluster, which has no storage provisioner.

A chart may bring a PersistentVolumeClaim (an allowed kind, and an allowed volume type). On a real
cluster the default StorageClass's provisioner creates a volume for it; KWOK has none, so the claim
would stay Pending and its pod unschedulable forever. As KWOK stands in for kubelets, this stands in
for the provisioner: each pending claim of a function's namespace that names no class (or the stand-in
class) gets a PersistentVolume pre-bound to it. Nothing ever mounts it (no container runs on KWOK);
the probe process standing in for a pod sees an empty folder, which is what a new volume holds.

Claims that name another class are left to that class's provisioner. The volumes carry the function
version's label and are deleted with its namespace.
"""

from __future__ import annotations

from typing import Any

from reference.backend.kube import ApiException, Kube
from reference.charts.mutate import VERSION_LABEL
from reference.charts.objects import as_dict, as_list, dig

STAND_IN_LABEL = "nvcf.reference/stand-in-volume"
# A class a chart may name to get a stand-in volume explicitly; the environment may also make a
# (default) StorageClass with this provisioner.
STAND_IN_CLASS = "nvcf-reference-stand-in"
STAND_IN_PROVISIONER = "stand-in.nvcf-reference"


def _claims_class(claim: dict[str, Any]) -> str:
    return str(dig(claim, "spec", "storageClassName") or "")


def stand_in_volume(claim: dict[str, Any], version_id: str) -> dict[str, Any]:
    meta = as_dict(claim.get("metadata"))
    spec = as_dict(claim.get("spec"))
    storage = as_dict(dig(spec, "resources", "requests")).get("storage") or "1Gi"
    volume_spec: dict[str, Any] = {
        "capacity": {"storage": storage},
        "accessModes": as_list(spec.get("accessModes")) or ["ReadWriteOnce"],
        "persistentVolumeReclaimPolicy": "Retain",
        "storageClassName": _claims_class(claim),
        "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": meta.get("namespace"),
                     "name": meta.get("name"), "uid": meta.get("uid")},
        # A CSI source no node serves: nothing can mount it, and on KWOK nothing tries.
        "csi": {"driver": STAND_IN_PROVISIONER, "volumeHandle": str(meta.get("uid"))},
    }
    if spec.get("volumeMode"):
        volume_spec["volumeMode"] = spec["volumeMode"]
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"nvcf-stand-in-{meta.get('uid')}",
                     "labels": {VERSION_LABEL: version_id, STAND_IN_LABEL: "true"}},
        "spec": volume_spec,
    }


async def bind_pending_claims(kube: Kube, namespace: str, version_id: str) -> list[str]:
    """Give every pending claim of `namespace` that no provisioner serves a stand-in volume."""
    claims = await kube.claims(namespace)
    bound = []
    for claim in claims:
        if dig(claim, "status", "phase") != "Pending" or dig(claim, "spec", "volumeName"):
            continue
        wanted = _claims_class(claim)
        if wanted not in ("", STAND_IN_CLASS) and await kube.storage_provisioner(wanted) != STAND_IN_PROVISIONER:
            continue
        try:
            await kube.run(kube.core.create_persistent_volume, stand_in_volume(claim, version_id))
        except ApiException as exc:
            if exc.status != 409:  # already made on an earlier look
                raise
            continue
        bound.append(str(dig(claim, "metadata", "name")))
    return bound


async def delete_volumes(kube: Kube, version_id: str) -> None:
    await kube.run(kube.core.delete_collection_persistent_volume,
                   label_selector=f"{VERSION_LABEL}={version_id},{STAND_IN_LABEL}=true")
