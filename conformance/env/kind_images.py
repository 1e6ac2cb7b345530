"""The kind path's images: built offline by tools/kind-images.sh, loaded into the engine, pushed.

`build(name)` runs the builder, which answers from the tools cache when nothing changed. `load` puts
an archive into the Docker engine unless the engine already has its tag. `push` sends an archive to
the authenticated registry over the distribution API (uploads only the blobs the registry lacks)
and returns the manifest digest the registry computed: what the nodes then pull.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

from conformance.env.kind_docker import run_docker
from conformance.env.registry import RegistryEndpoint
from conformance.errors import ConformanceError
from conformance.paths import ROOT

BUILDER = ROOT / "tools" / "kind-images.sh"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
# The archives' layers are uncompressed tarballs: the blob digest is the layer's diff id.
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


@dataclass(frozen=True)
class ImageArchive:
    path: Path
    tag: str


def build_tools(log: Path) -> None:
    """The pinned kind binary and the nvcf-runc runtime in bin/ (tools/build.sh; cached)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as err:
        done = subprocess.run(["bash", str(ROOT / "tools" / "build.sh"), "kind", "kind-node-go"],
                              stdout=err, stderr=err, timeout=1800, check=False)
    if done.returncode != 0:
        raise ConformanceError(f"tools/build.sh kind kind-node-go failed: {_tail(log)}; log {log}")


def build(name: str, log: Path, timeout: float = 3600.0) -> ImageArchive:
    """tools/kind-images.sh NAME: the cached archive, built first when missing (its output to `log`)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as err:
        try:
            done = subprocess.run(["bash", str(BUILDER), name], stdout=subprocess.PIPE, stderr=err, timeout=timeout,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise ConformanceError(f"building the {name} image took over {timeout:.0f}s; log {log}") from None
    lines = done.stdout.decode().strip().splitlines()
    if done.returncode != 0 or not lines:
        raise ConformanceError(f"building the {name} image failed (exit {done.returncode}): {_tail(log)}; log {log}")
    path, _, tag = lines[-1].partition(" ")
    return ImageArchive(Path(path), tag)


def _tail(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return " | ".join(lines[-3:])


def load(host: str, image: ImageArchive) -> bool:
    """`docker load` the archive unless the engine has its tag already; True when it loaded.

    Older builds of the same image (other tags of its repository) are removed from the engine once
    the new one is in: a node image is 1.6 GB. One still used by a container stays (docker refuses).
    """
    if run_docker(host, "image", "inspect", image.tag, check=False).returncode == 0:
        return False
    run_docker(host, "load", "--input", str(image.path), timeout=900)
    repository = image.tag.rsplit(":", 1)[0]
    listed = run_docker(host, "image", "ls", repository, "--format", "{{.Repository}}:{{.Tag}}", check=False)
    for old in listed.stdout.decode().split():
        if old != image.tag:
            run_docker(host, "image", "rm", old, check=False)
    return True


def _manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    member = tar.extractfile("manifest.json")
    if member is None:
        raise ConformanceError("the image archive has no manifest.json")
    entries = json.load(member)
    if not isinstance(entries, list) or len(entries) != 1:
        raise ConformanceError("the image archive must hold exactly one image")
    return dict(entries[0])


class _Pusher:
    def __init__(self, endpoint: RegistryEndpoint, repository: str) -> None:
        self.base = f"http://{endpoint.address}"
        self.repository = repository
        # trust_env=False: an HTTP(S)_PROXY must not capture a loopback registry.
        self.client = httpx.Client(auth=(endpoint.username, endpoint.password), timeout=120.0, trust_env=False)

    def close(self) -> None:
        self.client.close()

    def has_blob(self, digest: str) -> bool:
        return self.client.head(f"{self.base}/v2/{self.repository}/blobs/{digest}").status_code == 200

    def put_blob(self, digest: str, size: int, body: IO[bytes] | bytes) -> None:
        started = self.client.post(f"{self.base}/v2/{self.repository}/blobs/uploads/")
        if started.status_code != 202:
            raise ConformanceError(f"registry refused a blob upload to {self.repository}: HTTP {started.status_code}")
        location = httpx.URL(self.base).join(started.headers["location"])
        content = body if isinstance(body, bytes) else _chunks(body)
        done = self.client.put(location.copy_merge_params({"digest": digest}), content=content,
                               headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)})
        if done.status_code != 201:
            raise ConformanceError(f"registry refused blob {digest[:19]}: HTTP {done.status_code} {done.text[:200]}")

    def put_manifest(self, tag: str, manifest: bytes) -> str:
        reply = self.client.put(f"{self.base}/v2/{self.repository}/manifests/{tag}", content=manifest,
                                headers={"Content-Type": OCI_MANIFEST})
        if reply.status_code != 201:
            raise ConformanceError(f"registry refused the manifest of {self.repository}:{tag}: HTTP "
                                   f"{reply.status_code} {reply.text[:200]}")
        return reply.headers.get("docker-content-digest") or "sha256:" + hashlib.sha256(manifest).hexdigest()


def _chunks(handle: IO[bytes], size: int = 1 << 20) -> Any:
    while chunk := handle.read(size):
        yield chunk


def push(image: ImageArchive, endpoint: RegistryEndpoint, repository: str, tag: str,
         progress: Callable[[str], None]) -> str:
    """Push the archive as `repository:tag`; return the manifest digest."""
    pusher = _Pusher(endpoint, repository)
    try:
        with tarfile.open(image.path) as tar:
            entry = _manifest(tar)
            config_member = tar.extractfile(entry["Config"])
            if config_member is None:
                raise ConformanceError(f"the image archive lacks its config {entry['Config']}")
            config = config_member.read()
            layers = []
            for name in entry["Layers"]:
                info = tar.getmember(name)
                digest = "sha256:" + name.split("/", 1)[0]
                layers.append({"mediaType": OCI_LAYER, "size": info.size, "digest": digest})
                if pusher.has_blob(digest):
                    continue
                progress(f"pushing layer {digest[:19]} ({info.size / 1e6:.0f} MB)")
                handle = tar.extractfile(info)
                assert handle is not None
                pusher.put_blob(digest, info.size, handle)
            config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
            if not pusher.has_blob(config_digest):
                pusher.put_blob(config_digest, len(config), config)
        manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "size": len(config), "digest": config_digest},
            "layers": layers,
        }, separators=(",", ":")).encode()
        return pusher.put_manifest(tag, manifest)
    except httpx.HTTPError as exc:
        raise ConformanceError(f"pushing {repository}:{tag} to {endpoint.address} failed: {exc}") from None
    finally:
        pusher.close()
