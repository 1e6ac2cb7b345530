"""`helm template` of a built chart, split into the objects an NVCF validator would see.

Rendering mirrors what NVIDIA's validator does with a chart: release name and namespace
"mini-service", CRDs from crds/ included, hooks recognised by the `helm.sh/hook` annotation and kept
apart from the objects that count.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from conformance.charts.helm import Helm
from conformance.errors import ConformanceError

RELEASE = "mini-service"
NAMESPACE = "mini-service"
HOOK_ANNOTATION = "helm.sh/hook"

_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)
_SOURCE = re.compile(r"^# Source: (?P<source>.+?)\s*$", re.MULTILINE)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Doc:
    """One rendered document: its parsed object, the template it came from and its exact text."""

    obj: Any
    source: str
    text: str

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", "")) if isinstance(self.obj, dict) else ""

    @property
    def api_version(self) -> str:
        return str(self.obj.get("apiVersion", "")) if isinstance(self.obj, dict) else ""

    @property
    def gvk(self) -> str:
        return f"{self.api_version}/{self.kind}"

    @property
    def metadata(self) -> dict[str, Any]:
        meta = self.obj.get("metadata") if isinstance(self.obj, dict) else None
        return meta if isinstance(meta, dict) else {}

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def labels(self) -> dict[str, Any]:
        return self.metadata.get("labels") or {}

    @property
    def is_hook(self) -> bool:
        return HOOK_ANNOTATION in (self.metadata.get("annotations") or {})

    @property
    def size(self) -> int:
        """Bytes of the document as helm printed it, `# Source:` line included (how NVIDIA's validator counts)."""
        return len(self.text.encode())


@dataclass(frozen=True)
class Rendered:
    chart_dir: Path
    docs: tuple[Doc, ...]

    @cached_property
    def objects(self) -> tuple[Doc, ...]:
        """Non-hook documents that hold an object: what counts against NVCF's limits."""
        return tuple(d for d in self.docs if not d.is_hook)

    @cached_property
    def hooks(self) -> tuple[Doc, ...]:
        return tuple(d for d in self.docs if d.is_hook)

    def kinds(self) -> dict[str, int]:
        return dict(Counter(d.kind for d in self.objects))

    def hook_kinds(self) -> dict[str, int]:
        return dict(Counter(d.kind for d in self.hooks))

    def gvks(self) -> dict[str, int]:
        return dict(Counter(d.gvk for d in self.objects))

    def find(self, kind: str, name: str) -> Doc | None:
        return next((d for d in self.objects if d.kind == kind and d.name == name), None)


def split(output: str) -> list[Doc]:
    docs = []
    for chunk in _SEPARATOR.split(output):
        if not chunk.strip():
            continue
        source_match = _SOURCE.search(chunk)
        obj = yaml.load(chunk, Loader=_Loader)
        if obj is None:  # comment-only: helm's own bookkeeping, not an object
            continue
        text = chunk.strip("\n")
        docs.append(Doc(obj, source_match["source"] if source_match else "", f"---\n{text}\n"))
    return docs


def render(
    helm: Helm,
    chart_dir: Path,
    *,
    release: str = RELEASE,
    namespace: str = NAMESPACE,
    hooks: bool = True,
    include_crds: bool = True,
    values: Sequence[Path] = (),
) -> Rendered:
    args = ["template", release, str(chart_dir), "--namespace", namespace]
    if include_crds:
        args.append("--include-crds")
    if not hooks:
        args.append("--no-hooks")
    for path in values:
        args += ["--values", str(path)]
    result = helm.run(args)
    if result.returncode != 0:
        raise ConformanceError(f"helm template {chart_dir} failed: {result.last_error_line()}")
    try:
        return Rendered(chart_dir, tuple(split(result.stdout)))
    except yaml.YAMLError as exc:
        raise ConformanceError(f"helm template {chart_dir} printed YAML that does not parse: {exc}") from None


def render_many(helm: Helm, chart_dirs: Sequence[Path], *, workers: int = 4, **kwargs: Any) -> dict[Path, Rendered]:
    """`helm template` takes one chart per call; run a few at once (helm is mostly start-up time)."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(lambda d: render(helm, d, **kwargs), chart_dirs)
        return dict(zip(chart_dirs, results, strict=True))
