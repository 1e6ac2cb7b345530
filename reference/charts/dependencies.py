"""The dependencies a chart declares in Chart.yaml, set against the subcharts it vendors under `charts/`.

Correct behaviour needs no code: `helm template` refuses a chart whose declared dependency is not
vendored, and that refusal (naming the missing dependency) is what NVCF documents. Only the
SUBCHART-MISSING-DEPENDENCY-REFUSED mutant uses this module, to render such a chart anyway.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from reference.charts.errors import ChartMismatchError, ManifestError
from reference.charts.objects import as_dict, as_list
from reference.charts.safe_yaml import load_document

# `NAME-VERSION.tgz`: the name ends at the last dash followed by a digit, as in chart references.
_ARCHIVE = re.compile(r"^(?P<name>.+?)-\d[^/]*\.tgz$")
# Chart.yaml is small; this bounds what its aliases may expand to.
_MAX_EXPANSION = 10_000


def _chart_yaml(path: Path) -> dict[str, object]:
    try:
        return as_dict(load_document(path.read_text(encoding="utf-8"), max_expanded=_MAX_EXPANSION))
    except ManifestError as exc:
        raise ChartMismatchError(f"{path.parent.name}/Chart.yaml is refused: {exc.reason}") from None


def vendored_charts(chart_dir: Path) -> set[str]:
    """Names of the subcharts under `charts/`: unpacked folders (by their Chart.yaml) and archives."""
    folder = chart_dir / "charts"
    if not folder.is_dir():
        return set()
    names: set[str] = set()
    for entry in folder.iterdir():
        if entry.is_dir() and (entry / "Chart.yaml").is_file():
            names.add(str(_chart_yaml(entry / "Chart.yaml").get("name") or entry.name))
        elif entry.is_file() and (match := _ARCHIVE.match(entry.name)):
            names.add(match.group("name"))
    return names


def drop_missing_dependencies(chart_dir: Path) -> list[str]:
    """Rewrite Chart.yaml without the dependencies that are not vendored; return their names.

    The mutant's behaviour: a chart missing a dependency renders (and deploys) without it instead
    of being refused.
    """
    path = chart_dir / "Chart.yaml"
    meta = _chart_yaml(path)
    declared = [d for d in as_list(meta.get("dependencies")) if isinstance(d, dict)]
    vendored = vendored_charts(chart_dir)
    kept = [d for d in declared if str(d.get("name", "")) in vendored]
    missing = [str(d.get("name", "")) for d in declared if d not in kept]
    if missing:
        meta["dependencies"] = kept
        # JSON is YAML; helm reads it like any Chart.yaml, and no YAML writer is needed for it.
        path.write_text(json.dumps(meta), encoding="utf-8")
    return missing
