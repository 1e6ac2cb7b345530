"""`nvcf-conformance run | report build | report verify | report diff | repro`.

Exit codes (run, report build, repro):
  0  conformant: every claimed profile is `success` or `partial`
  1  non-conformant: a MUST rule failed (this outranks errors elsewhere: it is already established)
  2  no verdict: config or environment error, an ERROR result, an incomplete/interrupted run, pytest
     usage/internal error, nothing collected, or the harness parts are missing
`run --rerun-failures N` reruns every FAIL/ERROR item up to N times (conformance/run/rerun.py); an item
that passes and fails across attempts is FLAKY, which counts as FAIL (or, made of ERRORs and PASSes
only, as ERROR) for the verdict: reruns never turn a failure into conformance.
`run --baseline OLD` compares the run with the report OLD (conformance/report/diff.py) in the report and
on the console; the exit code stays the verdict's: a run's exit code is its certification result, which
CI and vendors script against, and a regression is a fact about two runs that `report diff` gates on.
`report verify`: 0 intact, 1 tampered (or no digest), 2 unreadable. Intact means the YAML's content
digest holds, no key is given twice, and every file of its folder matches the YAML's `files:` manifest
(missing or changed files, and files added under results/, repro/ or allure-results/, are tampering;
other added files are a warning). See conformance/report/manifest.py.
`report diff OLD NEW`: 0 no regression, 1 regressed (a rule newly failing or newly flaky, an item newly
ERROR), 2 a report unreadable or tampered (both are verified first: only sealed reports are compared).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shlex
import shutil
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from conformance import __version__
from conformance.catalog import schema
from conformance.charts import naming
from conformance.errors import ConfigError, ConformanceError
from conformance.paths import REPORTS, ROOT
from conformance.report import diff, diff_text, digest
from conformance.report.build import BuiltReport, build_report
from conformance.report.load import COLLECTED_GLOB, LEFTOVERS_GLOB, META_FILE, RESULTS_GLOB, load_results
from conformance.report.model import ATTEMPT_DIR, FLAKY, GRPC_FACT_FILE, RERUNS_FILE, RunMeta
from conformance.report.repro import RERUN_JSON
from conformance.report.verdict import INCOMPLETE, verdict_status
from conformance.report.verify import verify_report
from conformance.run import credentials, rerun
from conformance.run.pytest_runner import PYTEST_TESTS_FAILED, pytest_command, run_pytest
from conformance.run_facts import Selection, new_run_id, split_values
from conformance.target.config import SETTINGS_HELP, parse_settings

DEFAULT_PLUGIN = "conformance.plugin"
RESULTS_SUBDIR = "results"
CHARTS_FILE = "charts.json"  # the plugin's record of the charts it pushed for the run (plugin/charts.py)


def default_suites() -> Path:
    # An installed harness (the Docker image) has no source tree around the package; it says where.
    env = os.environ.get("NVCF_SUITES_DIR")
    if env:
        return Path(env)
    return ROOT / "suites" if (ROOT / "pyproject.toml").exists() else Path.cwd() / "suites"


def default_reports() -> Path:
    env = os.environ.get("NVCF_REPORTS_DIR")
    if env:
        return Path(env)
    return REPORTS if (ROOT / "pyproject.toml").exists() else Path.cwd() / "reports"


def _workers(value: str) -> str:
    if value == "auto" or (value.isdigit() and int(value) >= 0):
        return value
    raise argparse.ArgumentTypeError(f"expected a number of workers or 'auto', got {value!r}")


def io_workers(cpus: int | None = None) -> int:
    """Workers for `auto`: items wait on the backend (deploys, polls), not on this machine's CPUs."""
    return min(8, max(4, 2 * (cpus or os.cpu_count() or 1)))


def resolve_workers(given: str | None, target_config: Path | None,
                    overrides: Mapping[str, str] | None = None) -> str:
    """-n if given, else the target's `run.workers` (NVCF_WORKERS); `auto` becomes `io_workers()`."""
    value = given
    if value is None:
        try:
            from conformance.target.config import load_target

            value = str(load_target(target_config, overrides=overrides)["run.workers"])
        except ConformanceError:
            value = "auto"  # the run itself reports a broken configuration, with its cause
        try:
            _workers(value)
        except argparse.ArgumentTypeError as exc:
            raise ConfigError(f"run.workers (NVCF_WORKERS): {exc}") from None
    return str(io_workers()) if value == "auto" else value


def capped_workers(workers: str, items: int | None) -> str:
    """No more workers than items (none at all for one: xdist's start costs more than it saves)."""
    if items is None or not workers.isdigit() or int(workers) == 0:
        return workers
    wanted = min(int(workers), items)
    return str(wanted) if wanted > 1 else "0"


def selected_items(selection: Selection) -> int | None:
    """At most how many items a --rule/--case selection holds (the catalog's variants); None: the whole run."""
    if not selection:
        return None
    from conformance.catalog import load_catalog

    return sum(1 for rule in load_catalog() if not selection.rules or rule.id in selection.rules
               for variant in rule.variants() or [None]
               if not selection.cases or (variant is not None and variant.case in selection.cases)) or 1


def _reruns(value: str) -> int:
    if value.isdigit() and int(value) <= 10:
        return int(value)
    raise argparse.ArgumentTypeError(f"expected a number of reruns from 0 to 10, got {value!r}")


def _factor(value: str) -> float:
    try:
        factor = float(value)
    except ValueError:
        factor = 0.0
    if factor >= 1.0 and factor != float("inf"):
        return factor
    raise argparse.ArgumentTypeError(f"expected a factor of at least 1, got {value!r}")


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if 0.0 <= seconds != float("inf"):
        return seconds
    raise argparse.ArgumentTypeError(f"expected seconds (0 or more), got {value!r}")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = subparsers.add_parser(
        "run",
        help="run the conformance suites against a target and write reports/<run-id>/",
        description="Run the suites with pytest, then build the report (YAML, JUnit, allure, HTML, repro "
        "bundles). Exit 0 conformant, 1 a MUST rule failed, 2 no verdict (error, incomplete, usage).",
        epilog="Arguments after `--` go to pytest unchanged, e.g. `-- -x -k daemonset`.",
    )
    run.add_argument("--profile", action="append", default=[], choices=[p for p in schema.PROFILES if p != "core"],
                     metavar="P", help="claim profile P (repeatable; `core` is always claimed)")
    run.add_argument("--rule", action="append", default=[], metavar="ID", help="only this rule (repeatable)")
    run.add_argument("--case", action="append", default=[], metavar="ID", help="only this chart case (repeatable)")
    run.add_argument("--target-config", type=Path, metavar="FILE", help="target config (YAML) of the implementation")
    run.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                     help=SETTINGS_HELP)
    run.add_argument("--run-id", metavar="ID", help="run id (default: UTC time + random suffix)")
    run.add_argument("-n", dest="workers", type=_workers, metavar="N",
                     help="parallel workers (pytest-xdist); default: run.workers of the target, auto = 2 per CPU, 4-8")
    run.add_argument("--report-dir", type=Path, metavar="DIR", help="report folder (default: reports/<run-id>)")
    run.add_argument("--charts-manifest", type=Path, metavar="FILE",
                     help="chart manifest of `charts push` (default: <report-dir>/charts.json when present)")
    run.add_argument("--no-preflight", action="store_true", default=os.environ.get("NVCF_NO_PREFLIGHT") == "1",
                     help="skip the set-up checks before the suites (see `nvcf-conformance preflight`; "
                          "also NVCF_NO_PREFLIGHT=1)")
    run.add_argument("--rerun-failures", type=_reruns, default=0, metavar="N",
                     help="rerun every FAIL/ERROR item up to N times (0-10, default 0); an item that passes in "
                          "one attempt and fails in another is FLAKY, which never counts as a pass")
    run.add_argument("--baseline", type=Path, metavar="OLD",
                     help="compare with an earlier report (its folder or YAML): the report gets a diff section "
                          "and the console its summary; the exit code stays the verdict's (gate with `report diff`)")
    run.add_argument("--suites", type=Path, default=None, help=argparse.SUPPRESS)
    # Hidden: the project's own tests (and `repro` of their bundles) drive a stand-in plugin and suites.
    run.add_argument("--plugin", default=os.environ.get("NVCF_PYTEST_PLUGIN", DEFAULT_PLUGIN), help=argparse.SUPPRESS)
    run.add_argument("pytest_args", nargs="*", metavar="-- PYTEST_ARGS", help=argparse.SUPPRESS)
    run.set_defaults(func=cmd_run)

    report = subparsers.add_parser("report", help="build or verify a conformance report")
    report_sub = report.add_subparsers(dest="report_command", metavar="ACTION")
    build = report_sub.add_parser(
        "build", help="(re)build the reports from a results folder",
        description="Build conformance-report.yaml, junit.xml, allure-results/, summary.html and repro bundles "
        "from the plugin's results folder. Exit codes as for `run`.",
    )
    build.add_argument("results_dir", type=Path, metavar="RESULTS_DIR")
    build.add_argument("--out", type=Path, metavar="DIR",
                       help="report folder (default: the folder holding RESULTS_DIR when it is named "
                            "'results', else RESULTS_DIR)")
    build.add_argument("--target-config", type=Path, metavar="FILE",
                       help="the run's target config: its credentials are kept out of the report, "
                            "and repro commands point at it")
    build.add_argument("--rule", action="append", default=None, metavar="ID",
                       help="the run's --rule selection (default: read from the recorded command)")
    build.add_argument("--case", action="append", default=None, metavar="ID",
                       help="the run's --case selection (default: read from the recorded command)")
    build.add_argument("--baseline", type=Path, metavar="OLD",
                       help="compare with an earlier report, as `run --baseline` does")
    build.set_defaults(func=cmd_report_build)
    verify = report_sub.add_parser(
        "verify", help="check a report's content digest and every file of its folder",
        description="Check conformance-report.yaml's content digest, then every file of its folder against "
        "the manifest inside it. Exit 0 when the report is intact, 1 when it was changed (a file missing, "
        "edited, or added under results/, repro/ or allure-results/; a key given twice; no digest), "
        "2 unreadable. Other added files (notes beside the report) are a warning.",
    )
    verify.add_argument("path", type=Path, metavar="PATH", help="conformance-report.yaml or its folder")
    verify.add_argument("--yaml-only", action="store_true",
                        help="check only the YAML's digest (when it travels without its folder)")
    verify.set_defaults(func=cmd_report_verify)
    compare = report_sub.add_parser(
        "diff", help="compare two reports: regressions, fixes, changed outcomes, slower items",
        description="Compare the report NEW with the report OLD (folders or their conformance-report.yaml; both "
        "are verified first): rules newly failing, newly flaky, fixed, with a changed status or item outcome "
        "(refusal phase), new ERRORs, rules added to or removed from the catalog, and items that got slower. "
        "Exit 0 no regression, 1 regressed (a rule newly failing or flaky, an item newly ERROR), 2 a report "
        "is unreadable or was changed after it was written.",
    )
    compare.add_argument("old", type=Path, metavar="OLD")
    compare.add_argument("new", type=Path, metavar="NEW")
    compare.add_argument("--json", action="store_true", help="print the comparison as one JSON object")
    compare.add_argument("--slower-factor", type=_factor, default=diff.DEFAULT_FACTOR, metavar="F",
                         help=f"an item is slower when it took F times as long … (default {diff.DEFAULT_FACTOR:g})")
    compare.add_argument("--slower-floor", type=_seconds, default=diff.DEFAULT_FLOOR_S, metavar="SECONDS",
                         help=f"… and at least SECONDS more (default {diff.DEFAULT_FLOOR_S:g})")
    compare.set_defaults(func=cmd_report_diff)
    report.set_defaults(func=lambda _args: (report.print_help(), 2)[1])

    repro = subparsers.add_parser(
        "repro", help="rerun the one case a repro bundle describes",
        description="Run the command of BUNDLE_DIR/rerun.json (reports/<run-id>/repro/<item>/), optionally "
        "against another target. Exit codes as for `run`.",
    )
    repro.add_argument("bundle", type=Path, metavar="BUNDLE_DIR")
    repro.add_argument("--target-config", type=Path, metavar="FILE", help="run against this target instead")
    repro.add_argument("--report-dir", type=Path, metavar="DIR", help="report folder of the rerun")
    repro.add_argument("pytest_args", nargs="*", metavar="-- PYTEST_ARGS", help=argparse.SUPPRESS)
    repro.set_defaults(func=cmd_repro)


# ── run ──────────────────────────────────────────────────────────────────────────────────────────


def _check_parts(suites: Path, plugin: str) -> None:
    if not suites.is_dir():
        raise ConformanceError(f"the conformance suites are not there ({suites}): this build has no suites yet")
    try:
        found = importlib.util.find_spec(plugin) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ConformanceError(f"the pytest plugin '{plugin}' is not installed: this build has no plugin yet")


def _clear_results(results_dir: Path) -> None:
    # A reused report folder must not merge the previous attempt's results into this one, nor hand its
    # chart URLs (another run id, perhaps a registry long gone) to this run's tests.
    results_dir.mkdir(parents=True, exist_ok=True)
    stale = [*results_dir.glob(RESULTS_GLOB), *results_dir.glob(COLLECTED_GLOB), *results_dir.glob(LEFTOVERS_GLOB),
             results_dir / META_FILE, results_dir / CHARTS_FILE, results_dir / GRPC_FACT_FILE,
             results_dir / RERUNS_FILE]
    for path in stale:
        path.unlink(missing_ok=True)
    for folder in results_dir.glob(ATTEMPT_DIR.format(n="*")):  # rerun attempts: ours entirely
        shutil.rmtree(folder, ignore_errors=True)


def _print_outcome(built: BuiltReport, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    ctx = built.context
    meta = ctx.meta
    print(f"run {meta.run_id}: {meta.implementation} {meta.implementation_version}", file=out)
    for reason in ctx.incomplete_reasons:
        print(f"  INCOMPLETE: {reason}", file=out)
    unfinished = [o.rule_id for o in ctx.outcomes if o.status == INCOMPLETE]
    if unfinished:
        print(f"  INCOMPLETE rule(s), not every item ran: {', '.join(unfinished)}", file=out)
    for leftover in ctx.leftovers:
        print(f"  CLEANUP FAILED, delete by hand: {leftover.describe()}", file=out)
    width = max((len(v.profile) for v in ctx.verdicts), default=8) + 2
    for v in ctx.verdicts:
        reason = f"  {'; '.join(v.reasons)}" if v.reasons else ""
        print(f"  {v.profile:<{width}}{v.verdict:<9}{reason}".rstrip(), file=out)
    if not ctx.verdicts:
        print("  no profile was judged", file=out)
    if ctx.reruns is not None:
        print(f"  {_reruns_line(built)}", file=out)
    if ctx.baseline is not None:
        print(f"  {diff_text.summary(ctx.baseline)}", file=out)
    print(f"report: {built.summary_file}  (verify: nvcf-conformance report verify {built.report_file})", file=out)


def _reruns_line(built: BuiltReport) -> str:
    """What `--rerun-failures` found: which rules are FLAKY (and what that counts as), which failed every time."""
    ctx = built.context
    assert ctx.reruns is not None
    rerun_items = [r for r in ctx.results if r.attempts]
    if not rerun_items:
        return f"reruns ({ctx.reruns.requested} asked for): nothing failed, nothing rerun"
    flaky = {r.rule_id: verdict_status(r) for r in rerun_items if r.status == FLAKY}
    steady = sorted({r.rule_id for r in rerun_items if r.status != FLAKY})
    parts = [f"{len(rerun_items)} item(s) rerun up to {ctx.reruns.requested} time(s)"]
    if flaky:
        parts.append("FLAKY: " + ", ".join(f"{rule} (counts as {meaning})" for rule, meaning in sorted(flaky.items())))
    if steady:
        parts.append(f"failed every attempt: {', '.join(steady)}")
    return "reruns: " + "; ".join(parts)


def _reconcile(returncode: int, results_dir: Path) -> list[str]:
    """Reasons the results cannot be trusted given how pytest ended."""
    if returncode != PYTEST_TESTS_FAILED:
        return []
    results, _, _ = load_results(results_dir)
    if any(r.status in ("FAIL", "ERROR", "XFAIL", "XPASS") for r in results):
        return []
    # pytest saw a failing test that left no FAIL/ERROR record: something outside the plugin's view broke.
    return ["pytest reported failing tests that recorded no FAIL or ERROR result"]


def cmd_run(args: argparse.Namespace) -> int:
    suites = (args.suites or default_suites()).resolve()
    _check_parts(suites, args.plugin)
    target_config = args.target_config.resolve() if args.target_config else None
    if target_config is not None and not target_config.is_file():
        raise ConfigError(f"{args.target_config}: the target config file does not exist")
    # The same rule as the plugin's: a run id names folders, object names and label values.
    run_id = naming.run_id(args.run_id) if args.run_id else new_run_id()
    selection = Selection(split_values(args.rule), split_values(args.case))
    overrides = parse_settings(args.settings)  # a wrong --set is one line now, not a pytest usage error later
    report_dir = (args.report_dir or default_reports() / run_id).resolve()
    results_dir = report_dir / RESULTS_SUBDIR
    # Read before anything is cleared: the baseline may be the previous report in this very folder.
    baseline = diff.load_report(args.baseline, "--baseline") if args.baseline else None
    manifest = args.charts_manifest
    if manifest is None and (report_dir / "charts.json").is_file():
        manifest = report_dir / "charts.json"
    _clear_results(results_dir)
    setup_problem = None if args.no_preflight else _preflight(target_config, run_id, results_dir, manifest,
                                                              overrides)
    workers = resolve_workers(args.workers, target_config, overrides)
    # A chosen -n stands; the default shrinks to what a selection (or a rerun) has items for.
    selected = selected_items(selection) if args.workers is None else None

    def command_for(results: Path, items: list[str] | None = None) -> list[str]:
        n = capped_workers(workers, len(items) if items else selected)
        return pytest_command(
            suites, plugin=args.plugin, run_id=run_id, results_dir=results, profiles=args.profile,
            rules=args.rule, cases=args.case, target_config=target_config, settings=args.settings,
            charts_manifest=manifest.resolve() if manifest else None, workers=n, extra=args.pytest_args,
            items=items or (),
        )

    cmd = command_for(results_dir)
    print(f"nvcf-conformance: run {run_id} → {report_dir}", file=sys.stderr, flush=True)
    # What the report says when pytest never got as far as writing run-meta.json.
    fallback = RunMeta(run_id=run_id, harness_version=__version__, implementation="unknown",
                       implementation_version="unknown", profiles=tuple(args.profile), target={},
                       started_at=datetime.now(UTC).isoformat(timespec="seconds"), complete=False,
                       command=shlex.join(cmd[1:]), selection=selection.to_json())
    if setup_problem is not None:
        # One line says what to fix; the report says the same and judges nothing.
        print(f"nvcf-conformance: error: {setup_problem}", file=sys.stderr)
        built = build_report(results_dir, report_dir, secrets=credentials.collect(target_config),
                             selection=selection, target_config=target_config,
                             extra_incomplete=[setup_problem], fallback_meta=fallback, baseline=baseline)
        _print_outcome(built)
        return 2
    outcome = run_pytest(cmd)
    problems = [p for p in (outcome.problem(),) if p] + _reconcile(outcome.returncode, results_dir)
    interrupted = outcome.interrupted
    if args.rerun_failures and not interrupted and not problems:
        # Reruns only follow a run whose results stand: they add attempts to items, never replace them.
        plan = rerun.rerun_failures(args.rerun_failures, results_dir, suites, command_for,
                                    shared=(CHARTS_FILE, GRPC_FACT_FILE))
        interrupted = plan.interrupted
    built = build_report(
        results_dir, report_dir, secrets=credentials.collect(target_config),
        selection=selection, target_config=target_config,
        interrupted=interrupted, extra_incomplete=problems, fallback_meta=fallback, baseline=baseline,
    )
    _print_outcome(built)
    if interrupted or problems:
        return 2
    return built.exit_code


def _preflight(target_config: Path | None, run_id: str, results_dir: Path, manifest: Path | None,
               overrides: Mapping[str, str]) -> str | None:
    """The set-up problem that makes this run pointless, in one line, or None."""
    from conformance.preflight.cli import run_preflight

    failed = run_preflight(target_config, run_id, results_dir, manifest, overrides=overrides)
    if failed is None:
        return None
    return f"preflight: {failed.name}: {failed.detail}" + (f" — {failed.fix}" if failed.fix else "")


# ── report ───────────────────────────────────────────────────────────────────────────────────────


def cmd_report_build(args: argparse.Namespace) -> int:
    results_dir: Path = args.results_dir
    if not results_dir.is_dir():
        raise ConformanceError(f"{results_dir}: no such results folder")
    out = args.out or (results_dir.parent if results_dir.resolve().name == RESULTS_SUBDIR else results_dir)
    # Without --rule/--case, the selection the run recorded in its meta file.
    selection = None if args.rule is None and args.case is None else Selection(split_values(args.rule),
                                                                                split_values(args.case))
    target_config = args.target_config.resolve() if args.target_config else None
    baseline = diff.load_report(args.baseline, "--baseline") if args.baseline else None
    built = build_report(results_dir, out, secrets=credentials.collect(target_config), selection=selection,
                         target_config=target_config, baseline=baseline)
    _print_outcome(built)
    return built.exit_code


def cmd_report_verify(args: argparse.Namespace) -> int:
    try:
        verified = verify_report(args.path, files=not args.yaml_only)
    except digest.Unreadable as exc:
        print(f"unreadable: {exc}", file=sys.stderr)
        return 2
    except digest.DigestProblem as exc:
        print(f"TAMPERED: {exc}", file=sys.stderr)
        return 1
    for path in verified.added:
        print(f"warning: {path} is not part of the report (added after it was written)", file=sys.stderr)
    document = verified.document
    verdicts = ", ".join(f"{p}={v.get('verdict')}" for p, v in (document.get("verdicts") or {}).items()
                         if isinstance(v, dict))
    checked = "YAML only" if args.yaml_only else f"{verified.files} files"
    print(f"ok: {digest.report_path(args.path)} (run {document.get('run_id')}, {verdicts or 'no verdicts'}; "
          f"{checked})")
    return 0


def cmd_report_diff(args: argparse.Namespace) -> int:
    old = diff.load_report(args.old, "OLD")
    new = diff.load_report(args.new, "NEW")
    comparison = diff.compare(old, new, diff.Thresholds(args.slower_factor, args.slower_floor))
    if args.json:
        print(json.dumps(comparison.to_dict(), indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(diff_text.render(comparison))
    return 1 if comparison.regressed else 0


# ── repro ────────────────────────────────────────────────────────────────────────────────────────


def rerun_arguments(bundle: Path, target_config: Path | None, report_dir: Path | None,
                    extra: Sequence[str] = ()) -> list[str]:
    try:
        data = json.loads((bundle / RERUN_JSON).read_text(encoding="utf-8"))
        argv = [str(a) for a in data["argv"]]
    except FileNotFoundError:
        raise ConformanceError(f"{bundle}: not a repro bundle (no {RERUN_JSON})") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConformanceError(f"{bundle / RERUN_JSON}: unreadable ({exc})") from None
    if not argv or argv[0] != "run":
        raise ConformanceError(f"{bundle / RERUN_JSON}: does not hold a `run` command")
    if target_config is not None:
        if "--target-config" in argv:
            at = argv.index("--target-config")
            del argv[at : at + 2]
        argv += ["--target-config", str(target_config)]
    if report_dir is not None:
        argv += ["--report-dir", str(report_dir)]
    if extra:
        argv += ["--", *extra]
    return argv


def cmd_repro(args: argparse.Namespace) -> int:
    from conformance.cli import build_parser  # the full parser: `run` may be extended by other modules

    argv = rerun_arguments(args.bundle, args.target_config, args.report_dir, args.pytest_args)
    print(f"nvcf-conformance {shlex.join(argv)}", file=sys.stderr)
    rerun = build_parser(argv).parse_args(argv)
    return int(rerun.func(rerun))

