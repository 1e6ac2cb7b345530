"""Results written the way the pytest plugin writes them, for the report tests and the sample report.

`python tests/report/report_fixtures.py OUT_DIR` writes a realistic two-worker results folder (used by
scripts/report-screenshot.sh to have something to look at).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from conformance.catalog import load_catalog
from conformance.report.context import ReportContext
from conformance.report.model import COLLECTED_FILE, LEFTOVERS_FILE, Exchange, Leftover, RunMeta, TestResult

# The `make_context` fixture's type, importable by the tests (a conftest is not a module to import from).
MakeContext = Callable[..., ReportContext]

TOKEN = "nvapi-SECRET-token-0123456789abcdef"  # what a fake target config carries; must never be written


def meta(profiles: Sequence[str] = (), complete: bool = True, run_id: str = "20250101-120000-abcd",
         **changes: object) -> RunMeta:
    base = RunMeta(
        run_id=run_id,
        harness_version="0.1.0",
        implementation="acme-nvcf",
        implementation_version="2.4.1",
        profiles=tuple(profiles),
        target={"gateway": "https://api.example.test", "token": "<redacted>", "timeouts": {"deploy": 900}},
        started_at="2025-01-01T12:00:00+00:00",
        finished_at="2025-01-01T12:30:00+00:00" if complete else None,
        complete=complete,
        charts={"minimal-http": {"chart": "minimal-http", "version": "1.0.0", "digest": "sha256:" + "ab" * 32,
                                 "helmChart": "oci://registry.test/acme/charts/minimal-http-1.0.0.tgz"}},
        command="pytest suites -p conformance.plugin --run-id 20250101-120000-abcd",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def result(rule_id: str, status: str, level: str = "MUST", *, case: str | None = "minimal-http",
           param: str | None = None, message: str = "", profiles: Sequence[str] = ("core",),
           nodeid: str | None = None, **extra: object) -> TestResult:
    test = rule_id.lower().replace("-", "_")
    nodeid = nodeid or f"suites/test_area.py::test_{test}[{param or case or 'x'}]"
    return TestResult(nodeid=nodeid, rule_id=rule_id, level=level, profiles=tuple(profiles), status=status,  # type: ignore[arg-type]
                      case=case, param=param, message=message, duration_s=1.25, **extra)  # type: ignore[arg-type]


def exchange(method: str = "POST", url: str = "https://api.example.test/v2/nvcf/functions", status: int = 400,
             body: str = '{"name": "fn"}', answer: str = '{"detail": "kind DaemonSet is not allowed"}') -> Exchange:
    return Exchange(method=method, url=url, request_headers={"Authorization": "Bearer <redacted>",
                                                             "Content-Type": "application/json"},
                    request_body=body, status=status, response_headers={"Content-Type": "application/problem+json"},
                    response_body=answer, elapsed_s=0.2)


def write_results(results_dir: Path, workers: dict[str, Iterable[TestResult]], run_meta: RunMeta | None) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    for worker, results in workers.items():
        with (results_dir / f"results-{worker}.jsonl").open("w", encoding="utf-8") as out:
            for item in results:
                out.write(json.dumps(item.to_dict()) + "\n")
    if run_meta is not None:
        (results_dir / "run-meta.json").write_text(json.dumps(run_meta.to_dict(), indent=2))
    return results_dir


def write_collected(results_dir: Path, worker: str, items: Iterable[TestResult | tuple[str, str]]) -> None:
    """`collected-<worker>.json` as the plugin writes it, from results or (nodeid, rule id) pairs."""
    by_rule: dict[str, list[str]] = {}
    for item in items:
        nodeid, rule_id = (item.nodeid, item.rule_id) if isinstance(item, TestResult) else item
        by_rule.setdefault(rule_id, []).append(nodeid)
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / COLLECTED_FILE.format(worker=worker)).write_text(json.dumps({"rules": by_rule}))


def write_leftovers(results_dir: Path, worker: str, leftovers: Iterable[Leftover]) -> None:
    """`leftovers-<worker>.jsonl` as the plugin writes it."""
    results_dir.mkdir(parents=True, exist_ok=True)
    with (results_dir / LEFTOVERS_FILE.format(worker=worker)).open("a", encoding="utf-8") as out:
        for leftover in leftovers:
            out.write(json.dumps(leftover.to_dict()) + "\n")


def full_run(results_dir: Path, chart: Path | None = None) -> Path:
    """Every variant of every catalog rule, as a run claiming security-current + white-box would record it.

    Mostly PASS, with a MUST failure (DaemonSet deployed), a SHOULD failure, an ERROR and skips for the
    profiles not claimed, spread over two xdist workers.
    """
    claimed = ("security-current", "white-box")
    catalog = load_catalog()
    items: list[TestResult] = []
    for rule in catalog:
        in_scope = rule.applies(claimed)
        for variant in rule.variants():
            param = None if variant.param is None else str(variant.param)
            status, message = ("PASS", "observed as documented") if in_scope else (
                "SKIP", f"profile(s) {', '.join(p for p in rule.profiles if p != 'core')} not claimed")
            extra: dict[str, object] = {}
            if rule.id == "KIND-FORBIDDEN" and param == "DaemonSet":
                status = "FAIL"
                message = ("deployed-violating: the function reached ACTIVE with DaemonSet/mini-ds inside; "
                           "expected a refusal naming the kind <script>alert(1)</script>")
                extra = {"transcript": (exchange(), exchange("GET", status=200, body="", answer='{"status":"ACTIVE"}')),
                         "cluster_objects": ({"apiVersion": "apps/v1", "kind": "DaemonSet",
                                              "metadata": {"name": "mini-ds", "namespace": "fn-1"}},),
                         "outcome": "deployed-violating"}
                if chart is not None:
                    extra["chart_package"] = str(chart)
            elif rule.id == "CHART-VERSION-DASH-REFUSED":
                status, message = "FAIL", "refused-not-naming-offender: 400 'invalid chart' does not name the version"
            elif rule.id == "OBJECTS-MAX-300-ACCEPTED":
                status, message = "ERROR", "timed-out: no terminal state within deploy timeout 900s (registry slow?)"
            items.append(result(rule.id, status, rule.level, case=variant.case, param=param, message=message,
                                profiles=rule.profiles, outcome=extra.pop("outcome", None), **extra))
    workers = {"gw0": items[0::2], "gw1": items[1::2]}
    return write_results(results_dir, workers, meta(claimed))


if __name__ == "__main__":
    out = Path(sys.argv[1])
    sample_chart = out / "minimal-http-1.0.0.tgz"
    out.mkdir(parents=True, exist_ok=True)
    import gzip

    sample_chart.write_bytes(gzip.compress(b"chart archive placeholder"))
    print(full_run(out / "results", sample_chart))
