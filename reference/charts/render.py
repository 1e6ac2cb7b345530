"""Render a chart with `helm template` and split the output into objects, hooks and CRDs.

The deployment's `configuration` goes to helm as a values file (`-f`), so it merges exactly as Helm
merges values files: maps deeply, lists and scalars replace, null deletes. Hooks are rendered too,
so they can be identified (any document annotated `helm.sh/hook`) and reported as dropped; CRDs
(from `crds/` via --include-crds, or from templates) are set apart because NVCF skips them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reference import rules
from reference.charts.errors import ManifestError, RenderError
from reference.charts.helm import ChildLimits, Helm, HelmLimitError, HelmTimeout
from reference.charts.objects import Manifest, as_dict, as_list
from reference.charts.safe_yaml import load_document

MIB = 1024 * 1024
# NVIDIA's decoder buffer: 1 MiB + 1 KiB per document, counting its `# Source:` line.
OBJECT_SIZE_LIMIT = MIB + 1024


@dataclass(frozen=True)
class RenderLimits:
    timeout: float = 60.0
    max_output_bytes: int = 64 * MIB
    # helm builds its whole output in memory before printing any of it, so the output bound alone
    # would only be checked after a template had taken gigabytes: helm itself is bounded too.
    max_helm_memory_bytes: int = ChildLimits.memory_bytes
    max_helm_cpu_seconds: int = ChildLimits.cpu_seconds
    max_object_bytes: int = OBJECT_SIZE_LIMIT
    # Documents up to this size are still parsed, so an oversized one can be named and judged;
    # beyond it the chart is refused without parsing.
    max_parse_bytes: int = 8 * MIB
    # Weight (nodes + scalar characters) an aliased document may expand to; see safe_yaml.
    max_alias_expansion: int = 4 * OBJECT_SIZE_LIMIT


@dataclass(frozen=True)
class RawDocument:
    index: int
    source: str
    text: str

    @property
    def size(self) -> int:
        return len(self.text.encode("utf-8"))


@dataclass
class Rendered:
    objects: list[Manifest] = field(default_factory=list)  # what the chart installs
    hooks: list[Manifest] = field(default_factory=list)
    crds: list[Manifest] = field(default_factory=list)
    # Hook types helm does not know: helm drops those documents itself, so only the type is known.
    unknown_hooks: list[str] = field(default_factory=list)
    # Documents that are not objects (no apiVersion/kind, or not a map): never installed.
    ignored: list[str] = field(default_factory=list)


_DOC_START = re.compile(r"^---(?:[ \t].*)?$")
_SOURCE = re.compile(r"^# Source: (.+?)\s*$")
_UNKNOWN_HOOK = re.compile(r'skipping unknown hook: "([^"]*)"')


def split_documents(text: str) -> list[RawDocument]:
    """helm's output, one entry per YAML document, each tagged with the template it came from.

    A file from `crds/` is emitted verbatim under one `# Source:` line even when it holds several
    documents, so a document without its own line inherits the previous one's.
    """
    docs: list[RawDocument] = []
    source = ""
    lines: list[str] = []

    def flush() -> None:
        nonlocal source
        body = "".join(lines)
        first = body.split("\n", 1)[0]
        match = _SOURCE.match(first)
        if match:
            source = match.group(1)
        if body.strip():
            docs.append(RawDocument(len(docs), source, body))

    for line in text.splitlines(keepends=True):
        if _DOC_START.match(line.rstrip("\r\n")):
            flush()
            rest = line[3:].strip()
            lines = [rest + "\n"] if rest else []
        else:
            lines.append(line)
    flush()
    return docs


def parse_documents(docs: list[RawDocument], limits: RenderLimits) -> Rendered:
    """Parse and sort documents into objects, hooks and CRDs."""
    out = Rendered()
    for doc in docs:
        where = f"the document {doc.index} from {doc.source or 'the chart'}"
        if doc.size > limits.max_parse_bytes:
            raise ManifestError(
                f"{where} is {doc.size} bytes, far over the {limits.max_object_bytes}-byte limit for one object",
                rule=rules.OBJECT_SIZE_LIMIT,
            )
        try:
            data = load_document(doc.text, max_expanded=limits.max_alias_expansion)
        except ManifestError as exc:
            raise ManifestError(f"{where} is refused: {exc.reason}") from None
        if data is None:
            continue  # comments and whitespace only: not an object, not counted
        if not isinstance(data, dict) or not data.get("apiVersion") or not data.get("kind"):
            out.ignored.append(f"{doc.source or 'document'} #{doc.index}")
            continue
        item = Manifest(obj=data, source=doc.source, index=doc.index, size=doc.size)
        if item.is_hook:
            out.hooks.append(item)
            continue
        # Lists carry no name of their own; they are judged (and refused) as a whole later.
        if not item.name and not item.is_list:
            raise ManifestError(f"{item.kind} object in {doc.source or 'the chart'} has no metadata.name")
        (out.crds if item.is_crd else out.objects).append(item)
    return out


def render_chart(
    chart_dir: Path,
    *,
    release: str,
    namespace: str,
    values: Mapping[str, Any] | None,
    workdir: Path,
    limits: RenderLimits | None = None,
    kube_version: str | None = None,
) -> Rendered:
    """`helm template` the unpacked chart with `values` and return its sorted documents."""
    limits = limits or RenderLimits()
    workdir.mkdir(parents=True, exist_ok=True)
    values_file = workdir / "values.json"
    values_file.write_text(json.dumps(dict(values or {})))
    args = ["template", release, str(chart_dir), "--namespace", namespace, "--include-crds", "-f", str(values_file)]
    if kube_version:
        args += ["--kube-version", kube_version]
    output = workdir / "manifest.yaml"
    bounds = ChildLimits(memory_bytes=limits.max_helm_memory_bytes, cpu_seconds=limits.max_helm_cpu_seconds)
    with Helm(workdir, limits=bounds) as helm:
        try:
            run = helm.run_to_file(args, output, timeout=limits.timeout, max_bytes=limits.max_output_bytes)
        except HelmTimeout:
            raise RenderError(f"rendering the chart did not finish within {limits.timeout:g} s") from None
        except HelmLimitError as exc:
            raise RenderError(f"rendering the chart was stopped: {exc.reason}") from None
    if run.returncode != 0:
        # helm names files by chart-relative path; our temporary folders mean nothing to a user.
        detail = run.error_line().replace(str(chart_dir.parent) + "/", "").replace(str(workdir) + "/", "")
        raise RenderError(f"helm cannot render the chart: {detail}")
    text = output.read_text(encoding="utf-8", errors="replace")
    rendered = parse_documents(split_documents(text), limits)
    rendered.unknown_hooks = _UNKNOWN_HOOK.findall(run.stderr)
    return rendered


def expand_lists(objects: list[Manifest]) -> list[Manifest]:
    """`kind: List` objects replaced by their items (only the KIND-LIST-REFUSED mutant installs those)."""
    out: list[Manifest] = []
    for item in objects:
        if not item.is_list:
            out.append(item)
            continue
        for entry in as_list(item.obj.get("items")):
            if isinstance(entry, dict) and entry.get("apiVersion") and entry.get("kind"):
                unpacked = Manifest(obj=entry, source=item.source, index=item.index, size=item.size)
                if not unpacked.name:
                    raise ManifestError(f"an item of {item.ref} in {item.source} has no metadata.name")
                out.append(unpacked)
    return out


def without_subcharts(objects: list[Manifest]) -> list[Manifest]:
    """The parent chart's own objects (only the SUBCHART-VALID-DEPLOYS mutant installs nothing more)."""
    return [item for item in objects if not item.in_subchart]


def chart_defaults(chart_dir: Path, limits: RenderLimits | None = None) -> dict[str, Any]:
    """The chart's own values.yaml, parsed as safely as its output (only override mutants need it)."""
    limits = limits or RenderLimits()
    path = chart_dir / "values.yaml"
    if not path.is_file():
        return {}
    try:
        return as_dict(load_document(path.read_text(encoding="utf-8"), max_expanded=limits.max_alias_expansion))
    except ManifestError as exc:
        raise RenderError(f"the chart's values.yaml is refused: {exc.reason}") from None
