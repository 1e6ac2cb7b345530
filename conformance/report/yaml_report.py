"""`conformance-report.yaml`: the certification document, sealed with a content digest.

Format 2 added `files:` (every other file of the report folder, see manifest.py), the rule status
INCOMPLETE with each rule's `unreported_items`, and `summary.unreported`. Format 3 added the status
FLAKY with each rerun item's `attempts` (and a FLAKY item's `counts_as`: FAIL or ERROR), `reruns:` (what
`run --rerun-failures N` reran) and `baseline:` (the comparison `run --baseline OLD` made, see diff.py);
the last two only when the run made them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conformance.report import digest
from conformance.report.context import ReportContext
from conformance.report.model import FLAKY, TestResult
from conformance.report.verdict import verdict_status

REPORT_FORMAT = "nvcf-conformance-report/3"


def _item(ctx: ReportContext, result: TestResult) -> dict[str, Any]:
    item: dict[str, Any] = {
        "nodeid": result.nodeid,
        "status": result.status,
        "case": result.case,
        "param": result.param,
        "outcome": result.outcome,
        "message": result.message,
        "duration_s": round(float(result.duration_s), 3),
    }
    if result.status == FLAKY:
        item["counts_as"] = verdict_status(result)
    if result.attempts:
        item["attempts"] = [{**a.to_dict(), "duration_s": round(float(a.duration_s), 3)} for a in result.attempts]
    if result.chart_digest:
        item["chart_digest"] = result.chart_digest
    if result.nodeid in ctx.repro:
        item["repro"] = ctx.repro[result.nodeid]
    return item


def _charts(ctx: ReportContext) -> dict[str, Any]:
    charts: dict[str, Any] = {str(k): ctx.redactor.config(v) for k, v in sorted(ctx.meta.charts.items())}
    # Digests the results carry for cases the meta does not list still identify what was deployed.
    for result in ctx.results:
        if result.case and result.chart_digest and result.case not in charts:
            charts[result.case] = {"digest": result.chart_digest}
    return dict(sorted(charts.items()))


def document(ctx: ReportContext, files: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The report; `files` is the manifest of the rest of the folder (path → sha256 and size)."""
    meta = ctx.meta
    problems = ctx.certification_problems()
    return {
        "format": REPORT_FORMAT,
        "run_id": meta.run_id,
        "implementation": {"name": meta.implementation, "version": meta.implementation_version},
        "harness": {"name": "nvcf-conformance", "version": meta.harness_version,
                    "report_writer_version": ctx.harness_version},
        "started_at": meta.started_at,
        "finished_at": meta.finished_at,
        "command": ctx.redactor.text(meta.command),
        "complete": ctx.complete,
        "incomplete_reasons": list(ctx.incomplete_reasons),
        "profiles_claimed": list(ctx.claimed),
        "selection": {"rules": list(ctx.selection.rules), "cases": list(ctx.selection.cases)},
        "certifiable": not problems,
        "certification_problems": problems,
        "verdicts": {
            v.profile: {"verdict": v.verdict, "reasons": list(v.reasons), "rules": len(v.rules),
                        "rule_statuses": dict(sorted(v.counts.items()))}
            for v in ctx.verdicts
        },
        "summary": {"items": len(ctx.results), "statuses": ctx.status_counts(), "rules": len(ctx.outcomes),
                    "unreported": sum(len(o.unreported) for o in ctx.outcomes)},
        "rules": [
            {
                "id": o.rule_id,
                "level": o.level,
                "profiles": list(o.profiles),
                "in_scope": o.in_scope,
                "status": o.status,
                "counts": o.counts,
                **({"divergence": " ".join(o.divergence.split())} if o.divergence else {}),
                **({"note": "not in the rule catalog"} if not o.known else {}),
                "items": [_item(ctx, r) for r in o.items],
                **({"unreported_items": list(o.unreported)} if o.unreported else {}),
            }
            for o in ctx.outcomes
        ],
        "charts": _charts(ctx),
        "config": ctx.redactor.config(meta.target),
        "facts": ctx.facts,
        "warnings": list(ctx.warnings),
        **({"reruns": ctx.reruns.to_dict()} if ctx.reruns is not None else {}),
        **({"baseline": ctx.baseline.to_dict()} if ctx.baseline is not None else {}),
        "files": {path: dict(entry) for path, entry in sorted(files.items())},
    }


def render(ctx: ReportContext, files: Mapping[str, Mapping[str, Any]]) -> bytes:
    return digest.dump(digest.seal(document(ctx, files))).encode()
