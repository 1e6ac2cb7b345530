"""Which container images the KWOK data plane can stand in for: the mini-service probe, and only it."""

from __future__ import annotations


def repository_of(image: str) -> str:
    """`[host[:port]/]path[:tag][@digest]` → `path` (no registry host, tag or digest)."""
    ref = image.strip().split("@", 1)[0]
    last = ref.rsplit("/", 1)
    if ":" in last[-1]:
        ref = ref[: ref.rfind(":")]
    parts = ref.split("/")
    # Docker's rule: the first component is a registry host when it has a dot or a port, or is localhost.
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    return "/".join(parts)


def is_probe_image(image: str, probe_repository: str) -> bool:
    """True for the probe at any tag or digest, pulled from any registry (or a project path in it)."""
    repo = repository_of(image)
    wanted = probe_repository.strip("/")
    return bool(wanted) and (repo == wanted or repo.endswith("/" + wanted))


def cannot_run(image: str) -> str:
    return f"image {image} cannot run on the KWOK data plane (only the mini-service probe can)"
