"""Command-line flags with environment fallbacks.

Both sources exist because the probe is configured two ways: the chart's pod
spec sets env/args on the container, and the reference server passes the same
values to a local process. Flags win over env so args in the pod spec can
override a shared env block.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NoReturn

from mini_service import SERVER_NAME, __version__

DEFAULT_VALUES_DIR = "/etc/mini-service/values"


class ConfigError(Exception):
    """A bad flag or env value; reported as one line with exit status 2."""


@dataclass(frozen=True)
class Config:
    host: str
    http_port: int  # 0 disables the HTTP listener
    grpc_port: int  # 0 disables the gRPC listener
    values_dir: str
    models: tuple[str, ...]
    ready_delay: float
    access_log: bool


class _Parser(argparse.ArgumentParser):
    # argparse prints usage plus a message; launchers log stderr line by line, so keep it to one.
    def error(self, message: str) -> NoReturn:
        raise ConfigError(message)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range 0-65535: {value}")
    return value


def _delay(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value >= 0:  # also rejects NaN
        raise argparse.ArgumentTypeError(f"ready delay must be >= 0: {text}")
    return value


def _models(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise argparse.ArgumentTypeError("at least one model name is required")
    return names


def _flag(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"", "0", "false", "no", "off"}:
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r}")


def _build_parser(env: Mapping[str, str]) -> _Parser:
    parser = _Parser(
        prog="python -m mini_service",
        description=f"{SERVER_NAME} {__version__}: NVCF probe",
        # A typo must fail loudly rather than silently match a longer flag.
        allow_abbrev=False,
    )

    def default(name: str, fallback: str) -> str:
        return env.get(name, fallback)

    parser.add_argument("--host", default=default("MINI_SERVICE_HOST", "0.0.0.0"), help="bind address")
    parser.add_argument(
        "--http-port", type=_port, default=default("MINI_SERVICE_HTTP_PORT", "8000"), help="0 disables HTTP"
    )
    parser.add_argument(
        "--grpc-port", type=_port, default=default("MINI_SERVICE_GRPC_PORT", "8001"), help="0 disables gRPC"
    )
    parser.add_argument(
        "--values-dir",
        default=default("MINI_SERVICE_VALUES_DIR", DEFAULT_VALUES_DIR),
        help="folder of files mounted from the chart's values ConfigMap",
    )
    parser.add_argument(
        "--model",
        dest="models",
        type=_models,
        default=default("MINI_SERVICE_MODEL", "echo"),
        help="served model name (comma-separated for several)",
    )
    parser.add_argument(
        "--ready-delay",
        type=_delay,
        default=default("MINI_SERVICE_READY_DELAY", "0"),
        help="seconds after start before readiness reports ready",
    )
    parser.add_argument(
        "--access-log",
        type=_flag,
        nargs="?",
        const=True,
        default=default("MINI_SERVICE_ACCESS_LOG", "false"),
        help="log each HTTP request to stderr (off by default so an undrained stderr pipe cannot block)",
    )
    parser.add_argument("--version", action="version", version=f"{SERVER_NAME} {__version__}")
    return parser


def parse(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Parse flags over env defaults; raises ConfigError on any bad value."""
    parser = _build_parser(os.environ if env is None else env)
    # argparse runs `type` on string defaults too, so a bad env value fails the same way as a bad flag.
    ns = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if not ns.host:
        raise ConfigError("--host must not be empty")
    return Config(
        host=ns.host,
        http_port=ns.http_port,
        grpc_port=ns.grpc_port,
        values_dir=ns.values_dir,
        models=ns.models,
        ready_delay=ns.ready_delay,
        access_log=ns.access_log,
    )
