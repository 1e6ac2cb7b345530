"""The reference server's back half: a Kubernetes deployer and the data plane that reaches functions.

`KubeDeployer` (a `reference.ports.Deployer`) prepares a function's chart, applies it to a namespace
of its own and watches it up to ACTIVE; `LocalProbeDataPlane` (a `reference.ports.DataPlane`) runs
the mini-service probe as local processes in place of the pods a KWOK cluster only pretends to run,
and answers invocations from them; `GrpcProxy` relays gRPC invocations to them by `function-id`.
`build_backend()` wires the three together from one `BackendSettings`.

Names are imported on first use, so `reference serve --help` does not pay for kubernetes and grpc.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "KubeDeployer": "reference.backend.deploy.deployer",
    "LocalProbeDataPlane": "reference.backend.kwok.dataplane",
    "GrpcProxy": "reference.backend.invocation.grpc_proxy",
    "GrpcProxyThread": "reference.backend.invocation.grpc_proxy",
    "PortForwardDataPlane": "reference.backend.portforward.dataplane",
    "BackendSettings": "reference.backend.settings",
    "Backend": "reference.backend.wiring",
    "build_backend": "reference.backend.wiring",
}
__all__ = [
    "Backend",
    "BackendSettings",
    "GrpcProxy",
    "GrpcProxyThread",
    "KubeDeployer",
    "LocalProbeDataPlane",
    "PortForwardDataPlane",
    "build_backend",
]

if TYPE_CHECKING:
    from reference.backend.deploy.deployer import KubeDeployer
    from reference.backend.invocation.grpc_proxy import GrpcProxy, GrpcProxyThread
    from reference.backend.kwok.dataplane import LocalProbeDataPlane
    from reference.backend.portforward.dataplane import PortForwardDataPlane
    from reference.backend.settings import BackendSettings
    from reference.backend.wiring import Backend, build_backend


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'reference.backend' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
