"""The `nvcf-conformance` command: one sub-command group per area, each declared in its own module."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from conformance import __version__
from conformance.errors import ConformanceError

# Each module exposes `register(subparsers)` and sets `func` on the parsers it adds; importing
# lazily keeps `nvcf-conformance --help` fast and lets an area be absent while it is being built.
COMMAND_MODULES = (
    "conformance.env.cli",
    "conformance.catalog.cli",
    "conformance.charts.cli",
    "conformance.preflight.cli",
    "conformance.run.cli",
    "reference.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nvcf-conformance",
        description="Conformance harness for helm-based functions on NVCF backends.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # An area that is not installed (its package or module absent) is simply not offered.
            if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return func(args)
    except ConformanceError as exc:
        print(f"nvcf-conformance: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("nvcf-conformance: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `nvcf-conformance list | head`: the reader left; point stdout at /dev/null so the
        # interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
