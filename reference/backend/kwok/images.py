"""Container images on the KWOK data plane: which ones it can stand in for (the mini-service probe,
and only it), and whether the kubelet could pull them at all.

KWOK pulls nothing, so a pod whose image lives in a registry that wants credentials would run there
even with no pull secret. The kubelet would fail it with ErrImagePull; `pull_problem` says so instead,
so a deployment that forgot the pull secret fails here as it would on a real cluster.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from reference.backend.kwok.podenv import ObjectSource, secret_data
from reference.charts.objects import as_list, dig

# The kinds of containers the kubelet pulls images for before a pod can run.
_PULLED = ("initContainers", "containers")


def _split(image: str) -> tuple[str | None, str]:
    """`[host[:port]/]path[:tag][@digest]` → (host[:port] or None for Docker Hub, path)."""
    ref = image.strip().split("@", 1)[0]
    last = ref.rsplit("/", 1)
    if ":" in last[-1]:
        ref = ref[: ref.rfind(":")]
    parts = ref.split("/")
    # Docker's rule: the first component is a registry host when it has a dot or a port, or is localhost.
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        return parts[0], "/".join(parts[1:])
    return None, "/".join(parts)


def repository_of(image: str) -> str:
    """`[host[:port]/]path[:tag][@digest]` → `path` (no registry host, tag or digest)."""
    return _split(image)[1]


def registry_of(image: str) -> str | None:
    """The registry `host[:port]` an image is pulled from; None when it names none (Docker Hub)."""
    return _split(image)[0]


def is_probe_image(image: str, probe_repository: str) -> bool:
    """True for the probe at any tag or digest, pulled from any registry (or a project path in it)."""
    repo = repository_of(image)
    wanted = probe_repository.strip("/")
    return bool(wanted) and (repo == wanted or repo.endswith("/" + wanted))


def cannot_run(image: str) -> str:
    return f"image {image} cannot run on the KWOK data plane (only the mini-service probe can)"


def _auth_host(key: str) -> str:
    """A docker config `auths` key (`host:port`, `https://host:port/v1/`) → `host:port`, lower-case."""
    return key.split("://", 1)[-1].split("/", 1)[0].lower()


def credential_hosts(data: dict[str, str]) -> set[str]:
    """Registries a pull secret's decoded data holds credentials for (`.dockerconfigjson` or `.dockercfg`)."""
    hosts: set[str] = set()
    for key, wrapped in ((".dockerconfigjson", True), (".dockercfg", False)):
        raw = data.get(key)
        if not raw:
            continue
        try:
            config = json.loads(raw)
        except ValueError:
            continue
        auths = config.get("auths") if wrapped and isinstance(config, dict) else config
        if isinstance(auths, dict):
            hosts |= {_auth_host(str(k)) for k, v in auths.items() if isinstance(v, dict) and v}
    return hosts


async def pull_problem(pod: dict[str, Any], source: ObjectSource, private: Collection[str]) -> str | None:
    """Why the kubelet could not pull one of `pod`'s images, or None when it could.

    `private` lists the registries (`host[:port]`) that refuse anonymous pulls. An image from one of
    them needs an `imagePullSecrets` entry naming a Secret that exists in the pod's namespace and
    holds credentials for that registry; entries naming missing Secrets are skipped, as the kubelet
    skips them.
    """
    wanted = {r.lower() for r in private}
    if not wanted:
        return None
    namespace = str(dig(pod, "metadata", "namespace") or "")
    names = [str(e.get("name")) for e in as_list(dig(pod, "spec", "imagePullSecrets"))
             if isinstance(e, dict) and e.get("name")]
    authorised: set[str] | None = None  # read once, on the first private image
    for field in _PULLED:
        for container in as_list(dig(pod, "spec", field)):
            if not isinstance(container, dict):
                continue
            image = str(container.get("image") or "")
            registry = (registry_of(image) or "").lower()
            if registry not in wanted:
                continue
            if authorised is None:
                authorised = set()
                for name in names:
                    data = await secret_data(source, namespace, name)
                    if data is not None:
                        authorised |= credential_hosts(data)
            if registry in authorised:
                continue
            held = (f"none of its imagePullSecrets ({', '.join(names)}) exists with credentials for it"
                    if names else "the pod has no imagePullSecrets")
            return (f"pod {dig(pod, 'metadata', 'name')} container {container.get('name')}: ErrImagePull: "
                    f"failed to pull image \"{image}\": registry {registry} requires credentials and {held}")
    return None
