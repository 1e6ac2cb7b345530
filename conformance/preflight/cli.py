"""`nvcf-conformance preflight`: check the run's set-up against a target, one line per check.

Exit 0 when nothing stops a run (notes may still be printed), 2 when the set-up is broken.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from conformance.paths import REPORTS
from conformance.preflight.checks import Check, Preflight
from conformance.target.config import SETTINGS_HELP, load_target, parse_settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "preflight", help="check the target, credentials and registry before a run",
        description="Check that the target answers, the management token and invocation key are accepted, the "
                    "registry takes charts, and the backend pulls a tiny chart from it (a function is created, "
                    "its deployment created, and both removed again). `run` does this first. Exit 0 ready, "
                    "2 the set-up is broken (the line says what to fix).",
    )
    parser.add_argument("--target-config", type=Path, metavar="FILE", help="target config (YAML) of the implementation")
    parser.add_argument("--charts-manifest", type=Path, metavar="FILE", help="use the charts of `charts push --json`")
    parser.add_argument("--run-id", default="preflight", metavar="ID", help="run id for the chart it pushes")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                        help=SETTINGS_HELP)
    parser.set_defaults(func=cmd_preflight)


def run_preflight(target_config: Path | None, run_id: str, results_dir: Path, charts_manifest: Path | None,
                  out: TextIO | None = None, overrides: Mapping[str, str] | None = None) -> Check | None:
    """Run the checks, printing each line; the failing check, or None when the run may go on."""
    stream = out if out is not None else sys.stderr
    target = load_target(target_config, overrides=overrides)

    def show(check: Check) -> None:
        print(f"preflight: {check.line()}", file=stream, flush=True)

    checks = Preflight(target, run_id, results_dir, charts_manifest).run(progress=show)
    return next((c for c in checks if c.failed), None)


def cmd_preflight(args: argparse.Namespace) -> int:
    failed = run_preflight(args.target_config, args.run_id, REPORTS / "preflight" / args.run_id,
                           args.charts_manifest, sys.stdout, overrides=parse_settings(args.settings))
    return 2 if failed is not None else 0
