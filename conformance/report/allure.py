"""`allure-results/`: Allure 2 result files written by hand from the merged results.

Written from the report data rather than by hooking allure-pytest: the results already are merged
across workers and de-duplicated, a rebuild (`report build`) gives the same files, and no second
plugin has to agree with ours about statuses. uuids are derived from run id and nodeid, so a
rebuild overwrites instead of doubling.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from typing import Any

import yaml

from conformance.report.context import ReportContext
from conformance.report.model import FLAKY, Exchange, TestResult
from conformance.report.verdict import RuleOutcome, verdict_status

STATUS = {"PASS": "passed", "FAIL": "failed", "ERROR": "broken", "SKIP": "skipped", "XFAIL": "skipped",
          "XPASS": "passed"}
_BY_VERDICT = {"FAIL": "failed", "ERROR": "broken"}  # FLAKY: what it counts as, with Allure's flaky flag
SEVERITY = {"MUST": "critical", "SHOULD": "normal", "EXT": "minor"}
_NAMESPACE = uuid.UUID("6d1f3f3e-6c2b-4f53-9a43-6f6e76636663")


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "\0".join(parts)))


def _epoch_ms(iso: str | None) -> int:
    try:
        return int(datetime.fromisoformat(str(iso).replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return 0


def _dumps(data: Any) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n").encode()


def _step(exchange: Exchange, start: int) -> dict[str, Any]:
    answer = exchange.error or (f"→ {exchange.status}" if exchange.status is not None else "→ no answer")
    broken = exchange.error is not None or (isinstance(exchange.status, int) and exchange.status >= 500)
    stop = start + int(float(exchange.elapsed_s) * 1000)
    return {"name": f"{exchange.method} {exchange.url} {answer}", "status": "broken" if broken else "passed",
            "stage": "finished", "start": start, "stop": stop, "steps": [], "attachments": [], "parameters": []}


def _result(ctx: ReportContext, rule: RuleOutcome, result: TestResult, start: int,
            files: dict[str, bytes]) -> dict[str, Any]:
    red = ctx.redactor
    rid = _uuid(ctx.meta.run_id, result.nodeid)
    path, _, name = result.nodeid.partition("::")
    labels = [{"name": "epic", "value": p} for p in rule.profiles]
    labels += [
        {"name": "feature", "value": rule.rule_id},
        {"name": "severity", "value": SEVERITY.get(rule.level, "normal")},
        {"name": "tag", "value": rule.level},
        {"name": "parentSuite", "value": ctx.meta.implementation},
        {"name": "suite", "value": path.removesuffix(".py").replace("/", ".")},
        {"name": "subSuite", "value": rule.rule_id},
        {"name": "framework", "value": "pytest"},
        {"name": "language", "value": "python"},
    ]
    if result.case:
        labels.append({"name": "story", "value": result.case})
    attachments: list[dict[str, str]] = []
    if result.transcript:
        source = f"{rid}-transcript-attachment.json"
        files[source] = _dumps([red.exchange(x) for x in result.transcript])
        attachments.append({"name": "HTTP transcript", "source": source, "type": "application/json"})
    if result.cluster_objects:
        source = f"{rid}-cluster-objects-attachment.yaml"
        objects = [red.cluster_object(o) for o in result.cluster_objects]
        files[source] = yaml.safe_dump_all(objects, sort_keys=False, allow_unicode=True).encode()
        attachments.append({"name": "cluster objects", "source": source, "type": "application/yaml"})
    steps, clock = [], start
    for exchange in result.transcript:
        steps.append(_step(exchange, clock))
        clock = steps[-1]["stop"]
    stop = start + int(float(result.duration_s) * 1000)
    details: dict[str, Any] = {"message": result.message}
    if result.nodeid in ctx.repro:
        details["trace"] = f"repro bundle: {ctx.repro[result.nodeid]}"
    if result.status in ("XFAIL", "XPASS"):
        details["known"] = True
    if result.status == FLAKY:
        details["flaky"] = True
    if result.attempts:
        details["message"] = "\n".join([result.message, *(
            f"attempt {a.attempt}: {a.status}{': ' + a.message if a.message else ''}" for a in result.attempts)])
    status = _BY_VERDICT[verdict_status(result)] if result.status == FLAKY else STATUS.get(result.status, "unknown")
    parameters = [{"name": "case", "value": result.case}] if result.case else []
    if result.param is not None:
        parameters.append({"name": "param", "value": str(result.param)})
    return {
        "uuid": rid,
        "historyId": hashlib.md5(result.nodeid.encode()).hexdigest(),  # an id, not security
        "testCaseId": hashlib.md5(f"{rule.rule_id}:{path}::{name}".encode()).hexdigest(),
        "name": f"{rule.rule_id}: {name or path}",
        "fullName": result.nodeid,
        "description": rule.statement,
        "status": status,
        "statusDetails": details,
        "stage": "finished",
        "start": start,
        "stop": stop,
        "labels": labels,
        "parameters": parameters,
        "links": [],
        "steps": steps,
        "attachments": attachments,
    }


def render(ctx: ReportContext) -> dict[str, bytes]:
    """File name (inside allure-results/) → content."""
    files: dict[str, bytes] = {}
    clock = _epoch_ms(ctx.meta.started_at)
    for rule in ctx.outcomes:
        for result in rule.items:
            data = _result(ctx, rule, result, clock, files)
            files[f"{data['uuid']}-result.json"] = _dumps(data)
            clock = data["stop"]
    env = {
        "implementation": ctx.meta.implementation,
        "implementation.version": ctx.meta.implementation_version,
        "harness.version": ctx.meta.harness_version,
        "run.id": ctx.meta.run_id,
        "profiles": ",".join(ctx.claimed),
    }
    files["environment.properties"] = "".join(
        f"{k}={' '.join(str(v).split())}\n" for k, v in env.items()
    ).encode()
    files["categories.json"] = _dumps([
        {"name": "Conformance failures (the implementation broke a rule)", "matchedStatuses": ["failed"]},
        {"name": "Harness or environment errors (no verdict)", "matchedStatuses": ["broken"]},
    ])
    return files
