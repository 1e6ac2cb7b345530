"""`python -m conformance.mutation`: run every rule's mutant and report the mutation score.

Exit 0 when every mutant was caught, 1 when one survived or was invalid (each is named) or a refused
case's fixed twin did not deploy on the unmutated reference, 2 when the run itself could not be set up.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from conformance.catalog.load import load_catalog
from conformance.errors import ConformanceError
from conformance.mutation import baseline as baselines
from conformance.mutation import report
from conformance.mutation.environment import shared_environment
from conformance.mutation.mutants import load_mapping, select, smoke_rules
from conformance.mutation.personality import PERSONALITY, PersonalityRun, load_expected, run_personality
from conformance.mutation.runner import ENV_GONE, Outcome, run_mutant
from conformance.mutation.twins import TwinsRun, run_twins
from conformance.mutation.verdict import CAUGHT
from conformance.paths import REPORTS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.mutation",
        description="Start one `reference serve --violate RULE` mutant per rule against a shared embedded "
                    "environment, run that rule's tests at it, and report which mutants the suites caught.",
    )
    parser.add_argument("--rule", action="append", default=[], metavar="ID",
                        help="only this rule's mutant (repeatable; default every MUST and EXT rule)")
    parser.add_argument("--should", action="store_true", help="also the SHOULD rules' mutants")
    parser.add_argument("-n", dest="workers", type=int, default=2, metavar="N",
                        help="mutants run in parallel (default 2; each is a server plus a pytest run)")
    parser.add_argument("--out", type=Path, default=REPORTS / "mutation", metavar="DIR",
                        help="report folder (default reports/mutation)")
    parser.add_argument("--no-smoke", action="store_true", help="run only each mutant's own rule")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the run of the same rules at the unmutated reference (a rule failing there "
                             "would otherwise count as caught)")
    parser.add_argument("--no-twins", action="store_true",
                        help="skip deploying the refused cases' fixed twins on the unmutated reference")
    parser.add_argument("--no-personality", action="store_true",
                        help="skip the suites against the NVIDIA-like personality (--preset nvcf-oss-shipped), whose "
                             "verdicts must match conformance/mutation/personalities/nvcf-oss-shipped.yaml")
    parser.add_argument("--only-personality", action="store_true",
                        help="run only the personality stage (no mutants, baseline or twins)")
    parser.add_argument("--own-env", action="store_true",
                        help="start an environment for this run even when one is running (immune to its `env down`)")
    return parser


def _say(message: str) -> None:
    print(f"[mutation] {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.workers < 1:
        _say("-n must be at least 1")
        return 2
    started = time.monotonic()
    out: Path = args.out.resolve()
    try:
        mapping = load_mapping()
        catalog = load_catalog()
        mutants = [] if args.only_personality else select(catalog, mapping, rules=args.rule, should=args.should)
        runnable = [m for m in mutants if m.runnable]
        skipped = [m for m in mutants if not m.runnable]
        outcomes: list[Outcome] = []
        done_baselines: list[baselines.Baseline] = []
        twins: TwinsRun | None = None
        wanted = [] if args.no_personality or args.rule else [load_expected(PERSONALITY, catalog)]
        personalities: list[PersonalityRun] = []
        with shared_environment(out / "env", _say, reuse=not args.own_env) as env:
            _say(f"{len(runnable)} mutant(s), {args.workers} at a time")
            stop = threading.Event()
            pool = ThreadPoolExecutor(max_workers=args.workers)
            try:
                # The long baseline runs go first, so they overlap the mutants rather than trail them.
                base_futures = [] if args.no_baseline else [
                    pool.submit(baselines.run_baseline, flags, group, env, out / "work",
                                () if args.no_smoke else mapping.smoke)
                    for flags, group in baselines.groups(runnable).items()
                ]
                base_futures += [pool.submit(run_personality, expected, env, out / "work") for expected in wanted]
                futures = [
                    pool.submit(run_mutant, m, env, out / "work",
                                smoke=() if args.no_smoke else smoke_rules(m, mapping), stop=stop)
                    for m in runnable
                ]
                for future in as_completed([*base_futures, *futures]):
                    done = future.result()
                    if isinstance(done, PersonalityRun):
                        personalities.append(done)
                        _say(f"personality {done.expected.name}: "
                             f"{'matches the table' if done.ok else f'{len(done.differences)} difference(s)'} "
                             f"({done.seconds:.0f} s)")
                        continue
                    if isinstance(done, baselines.Baseline):
                        done_baselines.append(done)
                        broken = ", ".join(sorted(done.failures)) or "none"
                        _say(f"baseline {done.label}: {len(done.rules)} rule(s), not passing: {broken} "
                             f"({done.seconds:.0f} s)")
                        continue
                    outcomes.append(done)
                    _say(f"{done.mutant.rule}: {done.verdict.status} ({done.seconds:.0f} s)")
            except KeyboardInterrupt:
                # Queued mutants never start; running ones stop their own server on the way out.
                stop.set()
                _say("interrupted: waiting for the running mutants to stop")
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            finally:
                pool.shutdown(wait=True)
            environment = "started" if env.started else f"reused {env.run_dir}"
            if not args.no_twins and not args.only_personality:
                twins = run_twins(env, out / "work" / "twins", progress=_say)
        by_args = {b.args: b for b in done_baselines}
        outcomes = [baselines.judged(o, by_args.get(o.mutant.args)) for o in outcomes]
    except ConformanceError as exc:
        _say(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        # The running mutants stopped their servers and the environment this run started is down.
        _say("interrupted: no report written")
        return 130
    wall = time.monotonic() - started
    path = report.write(out, report.document(outcomes, skipped, wall_seconds=wall, environment=environment,
                                             twins=twins, baselines=done_baselines, personalities=personalities))
    if outcomes or skipped:
        report.print_table(outcomes, skipped, wall, sys.stdout)
    if twins is not None:
        report.print_twins(twins, sys.stdout)
    for run in personalities:
        report.print_personality(run, sys.stdout)
    print(f"report: {path}")
    if any(o.verdict.message == ENV_GONE for o in outcomes):
        _say(f"error: {ENV_GONE}")
        return 2
    bad = sorted(o.mutant.rule for o in outcomes if o.verdict.status != CAUGHT)
    if bad:
        print(f"not caught: {', '.join(bad)}", file=sys.stderr)
    if twins is not None and not twins.ok:
        print(f"chart twins not passing: {', '.join(r.twin for r in twins.failed) or 'none'}; "
              f"without a twin: {', '.join(twins.missing) or 'none'}", file=sys.stderr)
    differing = [run.expected.name for run in personalities if not run.ok]
    if differing:
        print(f"personalities differing from their verdict tables: {', '.join(differing)}", file=sys.stderr)
    return 1 if bad or differing or (twins is not None and not twins.ok) else 0
