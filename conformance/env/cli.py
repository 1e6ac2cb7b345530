"""`nvcf-conformance env up|down|status`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from conformance.env import manager, state
from conformance.env.config import load_config


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    env = sub.add_parser("env", help="the embedded environment: OCI registry + KWOK cluster (+ reference NVCF)")
    env_sub = env.add_subparsers(dest="env_command", metavar="ACTION", required=True)

    up = env_sub.add_parser("up", help="start everything and wait until it is healthy")
    up.add_argument("--config", type=Path, help="YAML file overriding registry port/user, cluster name, node shape")
    up.add_argument("--cluster", choices=("kwok", "kind"), default="kwok",
                    help="kwok: the embedded KWOK cluster (default); kind: real nodes in Docker (kind-config/)")
    up.add_argument("--layout", choices=("multi", "single"), default="multi",
                    help="with --cluster kind: kind-config/<layout>-node.yaml (default multi)")
    up.set_defaults(func=_up)

    down = env_sub.add_parser("down", help="stop exactly what `env up` started")
    down.set_defaults(func=_down)

    st = env_sub.add_parser("status", help="say what runs")
    st.add_argument("--json", action="store_true", help="one JSON object (includes credentials: for tools and CI)")
    st.set_defaults(func=_status)


def _say(message: str) -> None:
    print(f"[env] {message}", file=sys.stderr, flush=True)


def _up(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    if args.cluster == "kind":
        from conformance.env import kind_env

        current = kind_env.up(cfg, _say, args.layout)
    else:
        current = manager.up(cfg, _say)
    _print_summary(current)
    return 0


def _kind_state() -> bool:
    from conformance.env import kind_env

    return kind_env.is_kind(state.load())


def _down(args: argparse.Namespace) -> int:
    if _kind_state():
        from conformance.env import kind_env

        removed = kind_env.down(_say)
        _say(f"removed {', '.join(removed)}" if removed else "nothing to remove")
        return 0
    stopped = manager.down(_say)
    _say(f"stopped {len(stopped)} processes" if stopped else "nothing to stop")
    return 0


def _status(args: argparse.Namespace) -> int:
    if _kind_state():
        from conformance.env import kind_env

        current = kind_env.status()
    else:
        current = manager.status()
    if args.json:
        print(json.dumps(current, indent=2))
        return 0 if current["running"] else 1
    if not current.get("processes"):
        print("no embedded environment is running (start one with `nvcf-conformance env up`)")
        return 1
    _print_summary(current)
    for proc in current["processes"]:
        mark = "running" if proc.get("alive", True) else "STOPPED"
        print(f"  {proc['name']:<24} pid {proc['pid']:<8} {mark:<8} log {proc['log']}")
    for container in current.get("containers", []):
        mark = "running" if container.get("alive") else "STOPPED"
        print(f"  {container['name']:<24} container {container['id'][:12]} {mark}")
    return 0 if current["running"] else 1


def _print_summary(current: dict[str, Any]) -> None:
    reg = current.get("registry") or {}
    print(f"registry    {reg.get('address', '-')} (user {reg.get('username', '-')}; password: env status --json)")
    print(f"kubeconfig  {current.get('kubeconfig', '-')}")
    nvcf = current.get("nvcf") or {}
    if nvcf:
        print(f"nvcf        http://{nvcf['gateway']} (Host api.{nvcf['gateway']}), gRPC {nvcf.get('grpc', '-')}; "
              "tokens: env status --json")
    else:
        print("nvcf        not started")
