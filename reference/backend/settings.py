"""Everything the Kubernetes back half is told at construction, in one immutable object."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from reference.config import Behaviour

if TYPE_CHECKING:  # kept light: the CLI reads the defaults below before it needs any of the machinery
    from reference.charts import FetchOptions, Policy, RegistryAuth

FIELD_MANAGER = "nvcf-reference"
# The repository of the one image the KWOK data plane can stand in for (any tag, any registry host).
DEFAULT_PROBE_IMAGE = "nvcf-conformance/mini-service"


@dataclass(frozen=True)
class BackendSettings:
    kubeconfig: Path
    # Scratch space: chart renders, probe logs and materialised values. Created when missing.
    workdir: Path
    # Credentials for the chart pull and for the image pull Secret every pod spec gets.
    registry_auth: Sequence[RegistryAuth] = ()
    kube_context: str | None = None
    policy: Policy = "current"
    # Mutants: catalog rule ids to break on purpose (chart-level ones go through to `prepare`).
    violate: frozenset[str] = field(default_factory=frozenset)
    # Also run the whole chart pipeline at function creation, so a chart that breaks a restriction is
    # refused with 400 there already (the docs' recommendation; the RESTRICTIONS-CHECKED-AT-CREATION
    # mutant switches it off).
    validate_at_creation: bool = True
    # DEPLOYING → ERROR when the function is not serving within this many seconds.
    deploy_timeout: float = 120.0
    # An accepted deployment whose chart registry does not answer is retried this long before ERROR.
    registry_retry_seconds: float = 60.0
    # A pod the scheduler cannot place fails the deployment after this long (None: deploy_timeout).
    schedule_timeout: float | None = None
    # How often the namespace is looked at while deploying, and once ACTIVE.
    poll_interval: float = 0.25
    watch_interval: float = 1.0
    undeploy_timeout: float = 90.0
    # Undeploy returns once nothing of the function runs any more (pods gone, GPUs free, objects
    # outside the namespace deleted) instead of also waiting for the namespace object to disappear:
    # the namespace controller waits ~5 s on purpose before emptying one, which is the cluster's
    # pacing, not the function's. A redeploy of the same version waits for the leftover itself.
    undeploy_waits_for_namespace: bool = False
    namespace_prefix: str = "nvcf-"
    # `pod-security.kubernetes.io/enforce` on each function namespace; None leaves the cluster default.
    pod_security_enforce: str | None = None
    fetch_options: FetchOptions | None = None
    # The KWOK data plane.
    probe_image: str = DEFAULT_PROBE_IMAGE
    probe_python: str | None = None  # default: this interpreter
    probe_start_timeout: float = 20.0
    forward_connect_timeout: float = 5.0
    forward_read_timeout: float = 600.0
    # Port of the gRPC invocation proxy on 127.0.0.1; None: no proxy, 0: pick a free one.
    grpc_proxy_port: int | None = None
    # The same settings the API runs with (chart references, object checks, refusal texts): one
    # personality describes both halves.
    behaviour: Behaviour = field(default_factory=Behaviour)

    @property
    def effective_schedule_timeout(self) -> float:
        return self.deploy_timeout if self.schedule_timeout is None else self.schedule_timeout
