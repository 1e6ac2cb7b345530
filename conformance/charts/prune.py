"""Remove a run's charts from the registry, when asked (`nvcf-conformance charts prune --run-id ID`).

Runs keep their charts by default: the repro bundle of a failure names the chart by its URL and
digest, and rerunning it needs the chart still there. Each run pushes to a repository of its own
(`<repository>/<run id>/charts/...`, plus the documented-path aliases), so pruning one run is
deleting every manifest under that repository prefix. Blobs are freed by the registry's own garbage
collection (`registry garbage-collect` for CNCF distribution), which this does not run.
"""

from __future__ import annotations

from dataclasses import dataclass

from conformance.charts import oci


@dataclass(frozen=True)
class Pruned:
    repositories: int
    manifests: int
    refused: tuple[str, ...]  # `repo@digest` the registry would not delete (deletes disabled?)


def prune(registry: oci.Registry, repository: str) -> Pruned:
    """Delete every tagged manifest of every repository under `repository/`."""
    repositories = registry.repositories(repository)
    deleted, refused = 0, []
    for repo in repositories:
        digests = {d for tag in registry.tags(repo) if (d := registry.digest(repo, tag))}
        for digest in sorted(digests):
            if registry.delete(repo, digest):
                deleted += 1
            else:
                refused.append(f"{repo}@{digest}")
    return Pruned(len(repositories), deleted, tuple(refused))
