"""`repro/<item>/`: what it takes to look at and rerun one failed item on any backend.

Per FAIL/ERROR/XFAIL item:
  item.json            what failed, where, with which chart (and the command that reruns it)
  chart/<name>.tgz     the exact chart archive (+ .sha256), when the result names one that still exists
  requests.json        every request the test sent, in order (the deployment request with `configuration`)
  transcript.json      requests and answers
  cluster-objects.yaml what the inspector saw (Secret payloads blanked)
  rerun.sh / rerun.json  the one command, for people and for `nvcf-conformance repro`
Everything goes through the redactor again although the plugin already redacted: a bundle is made to
be attached to bug reports, so it is the output most likely to leave the building.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from conformance import run_facts
from conformance.report.context import ReportContext
from conformance.report.model import TestResult

RERUN_JSON = "rerun.json"
MAX_CHART_BYTES = 64 * 1024 * 1024  # a sample chart is kilobytes; anything huge is not what we built
_PRINTABLE = re.compile(r"[^\x20-\x7e]")


def rerun_argv(ctx: ReportContext, result: TestResult) -> list[str]:
    """`nvcf-conformance` arguments that rerun just this item's rule and case with the run's profiles."""
    return run_facts.rerun_argv(result.rule_id, result.case, ctx.claimed, ctx.target_config, ctx.meta.settings)


def _comment(text: str) -> str:
    # Values land in shell comments: one printable line, or a crafted param could start a command.
    return _PRINTABLE.sub("?", text)


def rerun_script(ctx: ReportContext, result: TestResult) -> str:
    argv = rerun_argv(ctx, result)
    if ctx.target_config:
        base = argv[: argv.index("--target-config")]
        command = f'{shlex.join(["nvcf-conformance", *base])} --target-config "$target_config" "$@"'
        config_line = f"target_config=${{NVCF_TARGET_CONFIG:-{shlex.quote(ctx.target_config)}}}\n"
    else:
        # No config file in the original run (embedded default target); another backend can still be given.
        command = f'{shlex.join(["nvcf-conformance", *argv])} "${{config[@]}}" "$@"'
        config_line = (
            "config=()\n"
            'if [ -n "${NVCF_TARGET_CONFIG:-}" ]; then config=(--target-config "$NVCF_TARGET_CONFIG"); fi\n'
        )
    param = f", param {result.param}" if result.param is not None else ""
    return (
        "#!/usr/bin/env bash\n"
        f"# Reruns one item of run {_comment(ctx.meta.run_id)}: rule {_comment(result.rule_id)}"
        f", case {_comment(result.case or '-')}{_comment(param)} (was {result.status}).\n"
        "# Other backend: NVCF_TARGET_CONFIG=FILE ./rerun.sh   Extra options (e.g. -- -x) are passed on.\n"
        "# The case's chart must be in the target's registry (`nvcf-conformance charts push`);\n"
        "# chart/ holds the exact archive this run used. The rerun runs every param of the case.\n"
        "set -euo pipefail\n"
        f"{config_line}"
        f"exec {command}\n"
    )


def _json(data: Any) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()


def _body(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _chart_files(result: TestResult, prefix: str) -> tuple[dict[str, bytes], dict[str, Any]]:
    info: dict[str, Any] = {"package": result.chart_package, "recorded_digest": result.chart_digest}
    if not result.chart_package:
        return {}, info
    path = Path(result.chart_package)
    try:
        if path.stat().st_size > MAX_CHART_BYTES:
            info["problem"] = f"not copied: larger than {MAX_CHART_BYTES} bytes"
            return {}, info
        content = path.read_bytes()
    except OSError as exc:
        info["problem"] = f"not copied: {exc.strerror or exc}"
        return {}, info
    sha = hashlib.sha256(content).hexdigest()
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", path.name) or "chart.tgz"
    info.update(file=f"chart/{name}", sha256=f"sha256:{sha}")
    recorded = (result.chart_digest or "").removeprefix("sha256:")
    if recorded and recorded != sha:
        # The OCI digest of a pushed chart is the archive's sha256; a mismatch means it was rebuilt since.
        info["problem"] = "the archive on disk differs from the recorded digest (rebuilt after the run?)"
    return {f"{prefix}/chart/{name}": content, f"{prefix}/chart/{name}.sha256": f"{sha}  {name}\n".encode()}, info


def bundle(ctx: ReportContext, result: TestResult) -> dict[str, bytes]:
    prefix = ctx.repro[result.nodeid]
    red = ctx.redactor
    files, chart = _chart_files(result, prefix)
    argv = rerun_argv(ctx, result)
    item = {
        "run_id": ctx.meta.run_id,
        "implementation": {"name": ctx.meta.implementation, "version": ctx.meta.implementation_version},
        "nodeid": result.nodeid,
        "rule_id": result.rule_id,
        "level": result.level,
        "status": result.status,
        "case": result.case,
        "param": result.param,
        "outcome": result.outcome,
        "message": result.message,
        "chart": chart,
        "rerun": run_facts.command_line(argv),
        "plugin_rerun": result.rerun,
        **({"attempts": [a.to_dict() for a in result.attempts]} if result.attempts else {}),
    }
    transcript = [red.exchange(x) for x in result.transcript]
    requests = [
        {"method": x["method"], "url": x["url"], "headers": x["request_headers"], "body": _body(x["request_body"])}
        for x in transcript
    ]
    files[f"{prefix}/item.json"] = _json(red.value(item))
    files[f"{prefix}/requests.json"] = _json(requests)
    files[f"{prefix}/transcript.json"] = _json(transcript)
    objects = [red.cluster_object(o) for o in result.cluster_objects]
    files[f"{prefix}/cluster-objects.yaml"] = (
        yaml.safe_dump_all(objects, sort_keys=False, allow_unicode=True).encode() if objects
        else b"# the inspector saw no cluster objects for this item (black-box run or nothing created)\n"
    )
    files[f"{prefix}/rerun.sh"] = rerun_script(ctx, result).encode()
    files[f"{prefix}/{RERUN_JSON}"] = _json({"argv": argv, "nodeid": result.nodeid, "param": result.param})
    return files


def render(ctx: ReportContext) -> dict[str, bytes]:
    """Relative path (under the report folder) → content, for every item that has a bundle."""
    files: dict[str, bytes] = {}
    for result in ctx.results:
        if result.nodeid in ctx.repro:
            files.update(bundle(ctx, result))
    return files
