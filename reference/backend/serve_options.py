"""The `reference serve` flags of the back half, and the Backend they describe.

Kept here so the CLI needs three lines: add the flags, build the back half (None without
`--kubeconfig`: the server then runs with the null back half), and close it after serving.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from reference.backend.settings import DEFAULT_PROBE_IMAGE, BackendSettings
from reference.config import Behaviour
from reference.errors import ConfigError

if TYPE_CHECKING:  # the machinery is imported when a back half is built, not when flags are declared
    from reference.auth import TokenRegistry
    from reference.backend.invocation.grpc_proxy import Admit
    from reference.backend.wiring import Backend
    from reference.charts import RegistryAuth


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("cluster back half (without --kubeconfig every deployment ends in ERROR)")
    group.add_argument("--kubeconfig", type=Path, help="the cluster functions are deployed to (KWOK or kind)")
    group.add_argument("--kube-context", help="context of --kubeconfig to use (default: its current one)")
    group.add_argument("--registry", action="append", default=[], metavar="HOST:PORT",
                       help="registry whose credentials pull charts and go into each pod's pull secret; repeatable")
    group.add_argument("--registry-username", action="append", default=[], metavar="NAME",
                       help="user for the --registry of the same position")
    group.add_argument("--registry-password-env", action="append", default=[], metavar="VAR",
                       help="environment variable holding the password for the --registry of the same position "
                            "(a password never goes on a command line)")
    group.add_argument("--grpc-port", type=int, metavar="PORT",
                       help="serve gRPC invocation (routed by function-id metadata) on 127.0.0.1:PORT; 0 picks one")
    group.add_argument("--deploy-timeout", type=float, default=120.0, metavar="SECONDS",
                       help="a deployment not serving after this long ends in ERROR (default 120)")
    group.add_argument("--schedule-timeout", type=float, metavar="SECONDS",
                       help="a pod the scheduler cannot place fails the deployment after this long "
                            "(default: --deploy-timeout)")
    group.add_argument("--policy", choices=("current", "enforced"), default="current",
                       help="security standards the docs mark as future: not enforced (current) or refused (enforced)")
    group.add_argument("--validate-at-creation", action=argparse.BooleanOptionalAction, default=True,
                       help="render and check the chart when the function is created, refusing it there with 400 "
                            "(default: on)")
    group.add_argument("--data-plane", choices=("kwok-local", "port-forward", "auto"), default="auto",
                       help="how invocations reach a function: kwok-local runs the mini-service probe as a local "
                            "process per ready pod (KWOK, where no container runs); port-forward reaches the pods' "
                            "own containers through the API server (kind, real clusters); auto (default) is "
                            "kwok-local when every node is a KWOK node, else port-forward")
    group.add_argument("--probe-image", default=DEFAULT_PROBE_IMAGE, metavar="REPOSITORY",
                       help=f"the image the KWOK data plane can stand in for (default {DEFAULT_PROBE_IMAGE})")
    group.add_argument("--backend-workdir", type=Path, metavar="DIR",
                       help="scratch space for charts and probe processes (default: next to --db)")


def _registry_auth(args: argparse.Namespace) -> tuple[RegistryAuth, ...]:
    from reference.charts import RegistryAuth

    registries, users, envs = args.registry, args.registry_username, args.registry_password_env
    if not (len(registries) == len(users) == len(envs)):
        raise ConfigError("give --registry, --registry-username and --registry-password-env once per registry")
    auths = []
    for registry, user, env in zip(registries, users, envs, strict=True):
        password = os.environ.get(env)
        if password is None:
            raise ConfigError(f"--registry-password-env {env}: that environment variable is not set")
        try:
            auths.append(RegistryAuth(registry, user, password))
        except ValueError as exc:
            raise ConfigError(f"--registry {registry}: {exc}") from None
    return tuple(auths)


def grpc_admission(tokens: TokenRegistry) -> Admit:
    """gRPC calls carry the same API keys as HTTP invocation: `authorization: Bearer <key>`."""
    import grpc

    def admit(function_id: str, version_id: str | None, metadata: dict[str, str]
              ) -> tuple[grpc.StatusCode, str] | None:
        scheme, _, token = metadata.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return grpc.StatusCode.UNAUTHENTICATED, "an API key is required: metadata 'authorization: Bearer <key>'"
        principal = tokens.lookup(token.strip())
        if principal is None:
            return grpc.StatusCode.UNAUTHENTICATED, "the API key is not valid"
        if "invoke_function" not in principal.scopes:
            return grpc.StatusCode.PERMISSION_DENIED, "the API key lacks the scope invoke_function"
        return None

    return admit


def backend_from_args(args: argparse.Namespace, *, db_path: Path, violations: frozenset[str],
                      tokens: TokenRegistry, nca_id: str, behaviour: Behaviour | None = None) -> Backend | None:
    if args.kubeconfig is None:
        if args.grpc_port is not None or args.registry:
            raise ConfigError("--grpc-port and --registry need --kubeconfig: without a cluster nothing is deployed")
        return None
    if not args.kubeconfig.is_file():
        raise ConfigError(f"--kubeconfig {args.kubeconfig}: no such file")
    if args.grpc_port is not None and not 0 <= args.grpc_port <= 65535:
        raise ConfigError(f"--grpc-port {args.grpc_port} is not a TCP port (0-65535)")
    if args.deploy_timeout <= 0:
        raise ConfigError("--deploy-timeout must be positive")
    from reference.backend.wiring import build_backend

    settings = BackendSettings(
        kubeconfig=args.kubeconfig.resolve(), kube_context=args.kube_context,
        workdir=(args.backend_workdir or db_path.parent / "backend").resolve(),
        registry_auth=_registry_auth(args), policy=args.policy, violate=violations,
        validate_at_creation=args.validate_at_creation, deploy_timeout=args.deploy_timeout,
        schedule_timeout=args.schedule_timeout, probe_image=args.probe_image, grpc_proxy_port=args.grpc_port,
        behaviour=behaviour or Behaviour(),
    )
    return build_backend(settings, admit=grpc_admission(tokens), nca_id=nca_id, data_plane=args.data_plane)
