"""The `nvcf-conformance` command: one sub-command group per area, each declared in its own module."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from conformance import __version__
from conformance.errors import ConformanceError

# Each module exposes `register(subparsers)` and sets `func` on the parsers it adds, for the commands
# listed beside it. Only the module of the command given is imported, so `list` works in a Python
# without the run's dependencies; `--help` (or no command) imports them all. The reference NVCF is a
# program of its own (`nvcf-reference`), never imported here.
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "conformance.env.cli": ("env",),
    "conformance.catalog.cli": ("list",),
    "conformance.charts.cli": ("charts",),
    "conformance.preflight.cli": ("preflight",),
    "conformance.run.cli": ("run", "report", "repro"),
}


def _modules_for(argv: Sequence[str]) -> list[str]:
    command = next((a for a in argv if not a.startswith("-")), None)
    chosen = [m for m, commands in COMMAND_MODULES.items() if command in commands]
    return chosen or list(COMMAND_MODULES)


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nvcf-conformance",
        description="Conformance harness for helm-based functions on NVCF backends.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _modules_for(argv):
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
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
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
