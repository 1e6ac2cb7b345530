"""A container's volume mounts as local folders, so a probe process sees the files its pod would.

ConfigMap, Secret and projected (ConfigMap/Secret) volumes are written out from the objects in the
cluster, with `items` and `subPath` honoured as the kubelet does. Every other volume becomes an empty
folder: an emptyDir or a claim starts empty anyway, and a hostPath (only a mutant lets one through)
must never expose this machine's files.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from reference.backend.kwok.podenv import ContainerConfigError, ObjectSource
from reference.charts.objects import as_dict, as_list, dig


@dataclass(frozen=True)
class Mount:
    mount_path: str  # inside the pod
    local: Path


def _safe_relative(path: str) -> PurePosixPath:
    rel = PurePosixPath(path)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise ContainerConfigError(f"volume path {path!r} must be relative and stay inside the volume")
    return rel


def _write(root: Path, rel_path: str, content: bytes) -> None:
    target = root.joinpath(*_safe_relative(rel_path).parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)


async def _object_files(source: ObjectSource, namespace: str, kind: str, name: str, optional: bool
                        ) -> dict[str, bytes] | None:
    if kind == "configMap":
        obj = await source.config_map(namespace, name)
        if obj is None:
            if optional:
                return None
            raise ContainerConfigError(f"configmap \"{name}\" not found")
        files = {str(k): str(v).encode() for k, v in as_dict(obj.get("data")).items()}
        files.update({str(k): base64.b64decode(str(v)) for k, v in as_dict(obj.get("binaryData")).items()})
        return files
    obj = await source.secret(namespace, name)
    if obj is None:
        if optional:
            return None
        raise ContainerConfigError(f"secret \"{name}\" not found")
    return {str(k): base64.b64decode(str(v)) for k, v in as_dict(obj.get("data")).items()}


async def _write_source(root: Path, source: ObjectSource, namespace: str, kind: str, spec: dict[str, Any]) -> None:
    name = str(spec.get("name") or spec.get("secretName") or "")
    files = await _object_files(source, namespace, kind, name, bool(spec.get("optional")))
    if files is None:
        return
    items = as_list(spec.get("items"))
    if not items:
        for key, content in files.items():
            _write(root, key, content)
        return
    for item in items:
        if not isinstance(item, dict):
            continue
        key = str(item.get("key", ""))
        if key not in files:
            if spec.get("optional"):
                continue
            raise ContainerConfigError(f"{kind} {name} has no key {key!r}")
        _write(root, str(item.get("path") or key), files[key])


async def materialise_volume(volume: dict[str, Any], namespace: str, source: ObjectSource, root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    if isinstance(volume.get("configMap"), dict):
        await _write_source(root, source, namespace, "configMap", volume["configMap"])
    elif isinstance(volume.get("secret"), dict):
        await _write_source(root, source, namespace, "secret", volume["secret"])
    elif isinstance(volume.get("projected"), dict):
        for item in as_list(volume["projected"].get("sources")):
            if not isinstance(item, dict):
                continue
            if isinstance(item.get("configMap"), dict):
                await _write_source(root, source, namespace, "configMap", item["configMap"])
            elif isinstance(item.get("secret"), dict):
                await _write_source(root, source, namespace, "secret", item["secret"])


async def materialise_mounts(pod: dict[str, Any], container: dict[str, Any], source: ObjectSource, dest: Path
                             ) -> list[Mount]:
    """Write each volume the container mounts under `dest`; return where each mount path went."""
    namespace = str(dig(pod, "metadata", "namespace") or "")
    volumes = {str(v.get("name")): v for v in as_list(dig(pod, "spec", "volumes")) if isinstance(v, dict)}
    written: dict[str, Path] = {}
    mounts = []
    for mount in as_list(container.get("volumeMounts")):
        if not isinstance(mount, dict) or not mount.get("mountPath"):
            continue
        name = str(mount.get("name", ""))
        volume = volumes.get(name)
        if volume is None:
            raise ContainerConfigError(f"volume mount {name!r} names no volume of the pod")
        if name not in written:
            written[name] = dest / f"volume-{len(written)}"
            await materialise_volume(volume, namespace, source, written[name])
        local = written[name]
        if mount.get("subPath"):
            local = local.joinpath(*_safe_relative(str(mount["subPath"])).parts)
        mounts.append(Mount(str(mount["mountPath"]), local))
    return mounts


def local_path(mounts: list[Mount], pod_path: str, fallback: Path) -> Path:
    """Where `pod_path` (a folder inside the container) lives locally; `fallback` when nothing mounts it."""
    target = PurePosixPath(pod_path)
    best: tuple[int, Mount] | None = None
    for mount in mounts:
        base = PurePosixPath(mount.mount_path)
        if target == base or base in target.parents:
            depth = len(base.parts)
            if best is None or depth > best[0]:
                best = (depth, mount)
    if best is None:
        return fallback
    rel = target.relative_to(PurePosixPath(best[1].mount_path))
    return best[1].local.joinpath(*rel.parts)
