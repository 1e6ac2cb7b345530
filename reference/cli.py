"""`nvcf-reference serve`: run the reference NVCF server in the foreground (also `python -m reference`)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from reference import __version__
from reference.backend import serve_options as backend_options
from reference.config import (
    CHART_REFERENCES,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_POLL_SECONDS,
    INACTIVE_INVOCATION,
    MAX_POLL_SECONDS,
    OBJECT_CHECKS,
    REFUSAL_TEXTS,
    Behaviour,
    ServerConfig,
    parse_violations,
)
from reference.errors import ConfigError, ReferenceFailure
from reference.paths import state_dir
from reference.presets import PERSONALITIES, personality

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nvcf-reference",
        description="The reference NVCF implementation: the harness's embedded default target and the base "
                    "of its mutants.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="ACTION", required=True)
    serve = sub.add_parser("serve", help="serve the NVCF API until interrupted")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on; 0 picks a free one (default 8080)")
    serve.add_argument("--db", type=Path, help="SQLite database (default <run dir>/reference/nvcf.db)")
    serve.add_argument(
        "--tokens-file", type=Path,
        help="YAML/JSON mapping 'tokens' of token → {name, scopes}; created with a fresh admin token and "
             "API key (mode 0600) when it does not exist (default <run dir>/reference/tokens.json)",
    )
    serve.add_argument("--gateway-domain", help="the <gw> of api.<gw> and <fid>.invocation.<gw> (default: --host)")
    serve.add_argument("--violate", action="append", metavar="RULE[,RULE...]",
                       help="break the given catalog rule(s) on purpose (a mutant); repeatable")
    serve.add_argument("--preset", action="append", metavar="NAME",
                       help="behave like a known implementation: a personality that sets the behaviour flags "
                            f"below and some mutants ({', '.join(sorted(PERSONALITIES))}); explicit flags win")
    serve.add_argument("--pexec-on-api-host", action=argparse.BooleanOptionalAction, default=None,
                       help="also answer pexec on the API host (default, unless a --preset says otherwise); "
                            "NVIDIA's gateway serves it only on invocation.<gw>, which this server always does")
    behaviour = serve.add_argument_group("behaviour where NVIDIA's open-source NVCF differs (see reference/README.md)")
    behaviour.add_argument("--refusal-texts", choices=REFUSAL_TEXTS,
                           help="word refusals as this reference does (default) or as NVIDIA's stack does")
    behaviour.add_argument("--chart-references", choices=CHART_REFERENCES,
                           help="read helmChart in the documented form NAME-X.Y.Z.tgz (default) or as Helm does")
    behaviour.add_argument("--object-checks", choices=OBJECT_CHECKS,
                           help="refuse charts that break the object checks (default) or only log them, as "
                                "NVIDIA's validator with skipValidateObjects")
    behaviour.add_argument("--inactive-invocation", choices=INACTIVE_INVOCATION,
                           help="invoking a function that cannot serve: 503 (default) or 404 decided before "
                                "NVCF-POLL-SECONDS is read, as NVIDIA's invocation service")
    behaviour.add_argument("--problem-type-on-validation", action=argparse.BooleanOptionalAction, default=None,
                           help="give request-validation 400s a problem `type` (default), or leave it out as "
                                "Spring does")
    behaviour.add_argument("--page-examples", action=argparse.BooleanOptionalAction, default=None,
                           help="take requests as the docs page writes them (default: the gRPC note's "
                                "inferenceURL key, a deployment without instanceType), or refuse them as "
                                "NVIDIA's API does")
    serve.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES,
                       help=f"larger request bodies get 413 (default {DEFAULT_MAX_BODY_BYTES})")
    serve.add_argument("--poll-seconds", type=int, default=DEFAULT_POLL_SECONDS,
                       help=f"pexec wait before 202 when NVCF-POLL-SECONDS is absent (default {DEFAULT_POLL_SECONDS})")
    serve.add_argument("--state-file", type=Path,
                       help="write {url, gateway, tokens_file, db, pid} as JSON here once listening")
    serve.add_argument("--log-file", type=Path, help="append the log here instead of stderr")
    serve.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    backend_options.add_arguments(serve)
    serve.set_defaults(func=_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ReferenceFailure as exc:
        print(f"nvcf-reference: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


def _behaviour(args: argparse.Namespace, base: Behaviour) -> Behaviour:
    """The personality's settings, each overridden by its flag when one was given."""
    chosen = {name: getattr(args, name, None) for name in (
        "refusal_texts", "chart_references", "object_checks", "inactive_invocation", "problem_type_on_validation",
        "page_examples")}
    return dataclasses.replace(base, **{k: v for k, v in chosen.items() if v is not None})


def build_config(args: argparse.Namespace) -> ServerConfig:
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port} is not a TCP port (0-65535)")
    if args.max_body_bytes < 1:
        raise ConfigError("--max-body-bytes must be at least 1")
    if not 1 <= args.poll_seconds <= MAX_POLL_SECONDS:
        raise ConfigError(f"--poll-seconds must be between 1 and {MAX_POLL_SECONDS}")
    preset = personality(args.preset)
    pexec_on_api_host = args.pexec_on_api_host
    if pexec_on_api_host is None:
        pexec_on_api_host = preset.pexec_on_api_host if preset else True
    return ServerConfig(
        db_path=(args.db or state_dir() / "nvcf.db").resolve(),
        gateway_domain=args.gateway_domain or args.host,
        max_body_bytes=args.max_body_bytes,
        default_poll_seconds=args.poll_seconds,
        pexec_on_api_host=pexec_on_api_host,
        behaviour=_behaviour(args, preset.behaviour if preset else Behaviour()),
        violations=parse_violations(args.violate) | (preset.mutants if preset else frozenset()),
    )


def _setup_logging(args: argparse.Namespace) -> None:
    handler: logging.Handler
    if args.log_file:
        args.log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(args.log_file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(args.log_level.upper())


def _serve(args: argparse.Namespace) -> int:
    # Imported here so `nvcf-reference --help` does not pay for FastAPI and uvicorn.
    from reference.app import create_app
    from reference.auth import load_or_generate
    from reference.server import bind, serve_forever

    config = build_config(args)
    _setup_logging(args)
    log = logging.getLogger("reference.cli")
    tokens_file = (args.tokens_file or state_dir() / "tokens.json").resolve()
    tokens, generated = load_or_generate(tokens_file)
    if generated:
        log.info("generated an admin token and an API key in %s (mode 0600)", tokens_file)
    else:
        log.info("loaded %d token(s) from %s", len(tokens), tokens_file)
    backend = backend_options.backend_from_args(args, db_path=config.db_path, violations=config.violations,
                                                behaviour=config.behaviour, tokens=tokens, nca_id=config.nca_id)
    app = create_app(config, tokens, deployer=backend.deployer if backend else None,
                     data_plane=backend.data_plane if backend else None)
    sock = bind(args.host, args.port)
    port = sock.getsockname()[1]
    url = f"http://{args.host}:{port}"
    if args.preset:
        log.info("personality %s: %s; mutants %s", ", ".join(args.preset), config.behaviour,
                 ", ".join(sorted(config.violations)) or "none")
    log.info("listening on %s (API: Host api.%s; invocation: Host <function-id>.invocation.%s)",
             url, config.gateway_domain, config.gateway_domain)
    try:
        grpc_port = backend.start_grpc_proxy() if backend else None
        if args.state_file:
            _write_state(args.state_file, {"url": url, "gateway": config.gateway_domain, "port": port,
                                           "tokens_file": str(tokens_file), "db": str(config.db_path),
                                           "pid": os.getpid(), "version": __version__,
                                           "grpc": f"127.0.0.1:{grpc_port}" if grpc_port is not None else None})
        return 0 if serve_forever(app, sock) else 1
    finally:
        if backend is not None:
            backend.close()


def _write_state(path: Path, data: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)  # readers never see half a file
