"""`KubeDeployer`: a function version's chart, prepared, applied to its own namespace and watched.

deploy: prepare the chart (fetch, render, validate, mutate) → namespace `nvcf-<version id>` → image
pull Secret and every object, server-side applied with the pods pinned to the instance type's GPU →
watch. ACTIVE once the mini-service Service has a ready endpoint *and* the function's health check
answers through the serving plane; ERROR with a reason when a pod cannot be placed, an instance
cannot run, or nothing serves within the timeout. After ACTIVE the watch goes on: losing instances
reports DEGRADING (some left) or DEGRADED (none), and getting them back reports ACTIVE again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from reference import rules
from reference.backend.cluster import apply, namespaces, service_targets
from reference.backend.cluster.apply import ApplyError
from reference.backend.cluster.kube import ApiException, Kube, api_error
from reference.backend.cluster.namespaces import NamespaceError
from reference.backend.cluster.readiness import Snapshot, observe
from reference.backend.deploy.instance_types import (
    GPU_PRODUCT_LABEL,
    GPU_RESOURCE,
    InstanceType,
    InstanceTypeError,
    accept_instance_type,
)
from reference.backend.deploy.placement import pin_object
from reference.backend.invocation.serving import ServingPlane, SyncResult
from reference.backend.kwok.dataplane import LocalProbeDataPlane
from reference.backend.settings import FIELD_MANAGER, BackendSettings
from reference.charts import (
    ChartError,
    ChartUrlError,
    Prepared,
    RegistryAuthError,
    RegistryUnreachableError,
    nvidia_texts,
    parse_chart_url,
    prepare,
)
from reference.charts.objects import dig
from reference.ports import (
    BackendUnavailable,
    Deployment,
    DeploymentSpec,
    DeploymentUpdate,
    FunctionVersion,
    Instance,
    Issue,
)
from reference.validation import nvidia_invalid_instance_type

log = logging.getLogger("reference.backend.deploy.deployer")

_PREPARED_TTL = 300.0
_PREPARED_MAX = 32


class KubeDeployer:
    def __init__(self, settings: BackendSettings, *, kube: Kube | None = None, plane: ServingPlane | None = None
                 ) -> None:
        self.settings = settings
        settings.workdir.mkdir(parents=True, exist_ok=True)
        self.kube = kube or Kube(settings.kubeconfig, context=settings.kube_context,
                                 discovery_cache=settings.workdir / "discovery-cache.json")
        self.plane: ServingPlane = plane if plane is not None else LocalProbeDataPlane(settings, self.kube)
        # What validate_deployment prepared, for the deploy() that follows it (by deployment id).
        self._prepared: dict[str, tuple[float, Prepared]] = {}

    def namespace_for(self, function: FunctionVersion) -> str:
        return namespaces.namespace_name(self.settings.namespace_prefix, function.version_id)

    # ── validation ────────────────────────────────────────────────────────────────────────────

    @property
    def _nvidia(self) -> bool:
        return self.settings.behaviour.refusal_texts == "nvidia"

    async def validate_at_creation(self, function: FunctionVersion) -> list[Issue]:
        if not function.is_helm:
            return []
        if self.settings.behaviour.chart_references == "documented":
            # Read as Helm reads it, the URL is only checked where NVIDIA checks it: the API's scheme
            # and host check at creation, the validator's at deployment.
            try:
                parse_chart_url(function.helm_chart or "", violate=self.settings.violate)
            except ChartUrlError as exc:
                return [Issue(exc.reason, field="helmChart")]
        if not self.settings.validate_at_creation or rules.RESTRICTIONS_CHECKED_AT_CREATION in self.settings.violate:
            return []
        try:
            prepared = await self._prepare(function, None)
        except ChartError as exc:
            return [self._chart_issue(function, exc, None)]
        if prepared.violations:
            if self._nvidia:
                return [self._chart_issue(function, None, prepared)]
            return [Issue(str(v), field="helmChart") for v in prepared.violations]
        return []

    def _chart_issue(self, function: FunctionVersion, error: ChartError | None, prepared: Prepared | None) -> Issue:
        """One refusal of the chart: this server's words, or the 400 NVIDIA's API makes of its validator's."""
        if not self._nvidia:
            if error is not None:
                return Issue(error.reason, field="helmChart")
            assert prepared is not None
            return Issue(prepared.reason())
        if error is not None:
            errors = nvidia_texts.failure_errors(error, function.helm_chart or "")
        else:
            assert prepared is not None
            errors = nvidia_texts.violation_errors(prepared.violations)
        return Issue(nvidia_texts.deployment_refusal(errors))

    async def validate_deployment(self, function: FunctionVersion, deployment: Deployment) -> list[Issue]:
        if not function.is_helm:
            return []  # deploy() says why it cannot run container functions
        specs = deployment.specifications
        issues = []
        if len(specs) > 1:
            issues.append(Issue(
                f"a helm-based function is deployed from one entry here, got {len(specs)}; the chart decides "
                "its own replicas and nodes", field="deploymentSpecifications"))
        for index, spec in enumerate(specs):
            where = f"deploymentSpecifications[{index}].instanceType"
            problem: str | None = None
            try:
                instance = accept_instance_type(spec.instance_type, spec.gpu, self.settings.violate)
            except InstanceTypeError as exc:
                problem = str(exc)
            else:
                if instance.multi_node_suffix and rules.MULTINODE_FULL_NODE_ONLY not in self.settings.violate:
                    problem = await self._multi_node_problem(instance)
            if problem and self._nvidia:
                # NVIDIA knows registered types only and refuses the first spec naming another one.
                return [Issue(nvidia_invalid_instance_type(function, spec.instance_type))]
            if problem:
                issues.append(Issue(problem, field=where))
        if issues:
            return issues
        try:
            prepared = await self._prepare(function, specs[0].configuration)
        except ChartError as exc:
            return [self._chart_issue(function, exc, None)]
        if prepared.violations:
            if self._nvidia:
                return [self._chart_issue(function, None, prepared)]
            return [Issue(str(v)) for v in prepared.violations]
        self._log_unrefused(function, prepared)
        self._remember(deployment.deployment_id, prepared)
        return []

    @staticmethod
    def _log_unrefused(function: FunctionVersion, prepared: Prepared) -> None:
        """What `object_checks="logged"` lets through, said where NVIDIA's validator says it: in the log."""
        for violation in prepared.logged:
            log.info("function %s version %s: not refused (object checks are only logged): %s",
                     function.function_id, function.version_id, violation)

    async def _multi_node_problem(self, instance: InstanceType) -> str | None:
        """Multi-node instances take whole nodes, two or more of them (NVIDIA's implementation's rule)."""
        if instance.nodes < 2:
            return (f"instance type '{instance.text}': a multi-node type spans at least two nodes "
                    f"(.x{instance.nodes} is not one); use {instance.single_node_text} for one node")
        nodes = await self.kube.nodes(f"{GPU_PRODUCT_LABEL}={instance.gpu_product}")
        counts = sorted({int(str(dig(n, "status", "capacity", GPU_RESOURCE) or 0)) for n in nodes} - {0})
        if counts and instance.gpus_per_node not in counts:
            whole = " or ".join(f"_{c}x" for c in counts)
            return (f"instance type '{instance.text}': multi-node instances use whole nodes, and the "
                    f"{instance.gpu} nodes have {' or '.join(map(str, counts))} GPUs (use {whole}.x{instance.nodes})")
        return None

    async def _prepare(self, function: FunctionVersion, configuration: Mapping[str, Any] | None) -> Prepared:
        """The prepared chart; a registry that cannot be reached or refuses our credentials is
        `BackendUnavailable` (a fault of the infrastructure, not of the chart)."""
        try:
            return await self._prepare_once(function, configuration)
        except RegistryUnreachableError as exc:
            raise BackendUnavailable(f"the chart registry is not available, try again: {exc.reason}") from None
        except RegistryAuthError as exc:
            raise BackendUnavailable(f"the chart registry refused this server's credentials: {exc.reason}",
                                     status=502) from None

    async def _prepare_once(self, function: FunctionVersion, configuration: Mapping[str, Any] | None) -> Prepared:
        s = self.settings
        return await asyncio.to_thread(
            prepare, function.helm_chart or "", function.helm_chart_service_name or "", function.inference_port,
            configuration, registry_auth=list(s.registry_auth), policy=s.policy, violate=s.violate,
            workdir=s.workdir / "charts", version_id=function.version_id, namespace=self.namespace_for(function),
            fetch_options=s.fetch_options, chart_references=s.behaviour.chart_references,
            object_checks=s.behaviour.object_checks,
        )

    async def _prepare_retrying(self, function: FunctionVersion, configuration: Mapping[str, Any] | None
                                ) -> Prepared:
        """A deployment already accepted outlives a registry that is away for a moment (a restart):
        it is tried again with growing pauses before the deployment ends in ERROR naming the registry."""
        pause = 1.0
        deadline = time.monotonic() + self.settings.registry_retry_seconds
        while True:
            try:
                return await self._prepare(function, configuration)
            except BackendUnavailable as exc:
                if exc.status != 503 or time.monotonic() + pause > deadline:
                    raise
                log.warning("function %s version %s: %s; retrying in %.0f s", function.function_id,
                            function.version_id, exc.detail, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 10.0)

    def _remember(self, deployment_id: str, prepared: Prepared) -> None:
        now = time.monotonic()
        self._prepared = {k: v for k, v in self._prepared.items() if now - v[0] < _PREPARED_TTL}
        while len(self._prepared) >= _PREPARED_MAX:
            self._prepared.pop(next(iter(self._prepared)))
        self._prepared[deployment_id] = (now, prepared)

    def _take_prepared(self, deployment_id: str) -> Prepared | None:
        entry = self._prepared.pop(deployment_id, None)
        if entry is None or time.monotonic() - entry[0] >= _PREPARED_TTL:
            return None
        return entry[1]

    # ── deploy ────────────────────────────────────────────────────────────────────────────────

    async def deploy(self, function: FunctionVersion, deployment: Deployment, *, resumed: bool
                     ) -> AsyncIterator[DeploymentUpdate]:
        if not function.is_helm:
            yield DeploymentUpdate("ERROR", "this reference deploys helm-based functions only; container functions "
                                            "have no chart to apply")
            return
        spec = deployment.specifications[0]
        try:
            instance = accept_instance_type(spec.instance_type, spec.gpu, self.settings.violate)
        except InstanceTypeError as exc:
            yield DeploymentUpdate("ERROR", str(exc))
            return
        ns = self.namespace_for(function)
        if not (resumed and await self._installed(ns, deployment)):
            try:
                prepared = self._take_prepared(deployment.deployment_id) or await self._prepare_retrying(
                    function, spec.configuration)
            except ChartError as exc:
                yield DeploymentUpdate("ERROR", self._chart_issue(function, exc, None).detail)
                return
            except BackendUnavailable as exc:
                yield DeploymentUpdate("ERROR", exc.detail)
                return
            if prepared.violations:
                yield DeploymentUpdate("ERROR", self._chart_issue(function, None, prepared).detail)
                return
            try:
                await self._install(function, deployment, ns, prepared, instance)
            except (ApplyError, NamespaceError) as exc:
                yield DeploymentUpdate("ERROR", str(exc))
                return
            except ApiException as exc:
                yield DeploymentUpdate("ERROR", f"the Kubernetes API refused the deployment: {api_error(exc)}")
                return
        active = rules.MINI_ACTIVE_WHEN_READY in self.settings.violate
        if active:
            yield DeploymentUpdate("ACTIVE")
        async for update in self._watch(function, ns, spec, instance, active=active):
            yield update

    async def _installed(self, ns: str, deployment: Deployment) -> bool:
        found = await self.kube.namespace(ns)
        return (found is not None and not namespaces.is_terminating(found)
                and namespaces.annotations(found).get(namespaces.APPLIED_ANNOTATION) == deployment.deployment_id)

    async def _install(self, function: FunctionVersion, deployment: Deployment, ns: str, prepared: Prepared,
                       instance: InstanceType) -> None:
        s = self.settings
        await namespaces.create(
            self.kube, ns, namespaces.labels(function.function_id, function.version_id, deployment.deployment_id),
            {namespaces.FUNCTION_NAME_ANNOTATION: function.name},
            pod_security_enforce=s.pod_security_enforce, timeout=s.undeploy_timeout,
        )
        manifests = [pin_object(obj, instance, function.version_id, violate=s.violate) for obj in prepared.manifests()]
        planned = await self.kube.run(apply.plan, self.kube, manifests)
        outside = [p.cluster_key for p in planned if not p.namespaced]
        if outside:  # recorded first, so a failed apply is still cleaned up completely
            await namespaces.annotate(self.kube, ns, {namespaces.CLUSTER_OBJECTS_ANNOTATION: json.dumps(outside)})
        applied = await self.kube.run(apply.apply, self.kube, planned, ns, field_manager=FIELD_MANAGER)
        await namespaces.annotate(self.kube, ns, {namespaces.APPLIED_ANNOTATION: deployment.deployment_id})
        log.info("function %s version %s: applied %d object(s) to namespace %s (hooks dropped: %s; CRDs skipped: "
                 "%s)", function.function_id, function.version_id, len(applied), ns,
                 ", ".join(str(h) for h in prepared.dropped_hooks) or "none",
                 ", ".join(prepared.skipped_crds) or "none")

    async def _watch(self, function: FunctionVersion, ns: str, spec: DeploymentSpec, instance: InstanceType, *,
                     active: bool) -> AsyncIterator[DeploymentUpdate]:
        s = self.settings
        service_name = function.helm_chart_service_name or ""
        deadline = time.monotonic() + s.deploy_timeout
        status = "ACTIVE" if active else "DEPLOYING"
        baseline = 0  # instances serving when ACTIVE was reached (or the most since)
        unschedulable_since: dict[str, float] = {}
        last: tuple[str, str | None, tuple[Instance, ...]] | None = None
        snapshot: Snapshot | None = None
        result: SyncResult | None = None
        problem: str | None = None
        while True:
            now = time.monotonic()
            try:
                snapshot = await observe(self.kube, ns, service_name, s.violate)
                problem = None
            except ApiException as exc:
                problem = f"the Kubernetes API failed: {api_error(exc)}"
            except Exception as exc:  # connection refused, TLS, ...: the API server may come back
                problem = f"the Kubernetes API could not be reached: {type(exc).__name__}: {exc}"
            if problem is None and snapshot is not None:
                pending = {}
                # Once ACTIVE, a pod that cannot be placed (a lost one's replacement) is a lost instance,
                # which the health count below reports; only a deployment on its way up fails for it.
                for pod, message in snapshot.unschedulable() if status == "DEPLOYING" else ():
                    uid = str(dig(pod, "metadata", "uid"))
                    pending[uid] = unschedulable_since.get(uid, now)
                    if now - pending[uid] >= s.effective_schedule_timeout:
                        await self.plane.release(function.version_id)
                        yield DeploymentUpdate("ERROR", (
                            f"pod {dig(pod, 'metadata', 'name')} cannot be placed for instance type "
                            f"{instance.text} (nodes labelled nvidia.com/gpu.product={instance.gpu_product}): "
                            f"{message}"))
                        return
                unschedulable_since = pending
                serving = snapshot.ready_endpoint_pods() if snapshot.service is not None else []
                service = service_targets.as_served(snapshot.service or {}, function.inference_port, s.violate)
                result = await self.plane.sync(function, ns, service, serving)
                if status == "DEPLOYING" and result.failed:
                    await self.plane.release(function.version_id)
                    yield DeploymentUpdate("ERROR", result.failed[0].detail or "an instance failed",
                                           instances=self._instances(snapshot, result, spec))
                    return
                healthy = len(result.healthy)
                reason: str | None = None
                if status == "DEPLOYING":
                    if healthy and not pending:
                        status, baseline = "ACTIVE", healthy
                elif baseline == 0 or healthy >= baseline:
                    status, baseline = "ACTIVE", max(baseline, healthy)
                elif healthy == 0:
                    status = "DEGRADED"
                    reason = "no instance of the mini-service is serving: " + (
                        result.first_problem() or f"the Service {service_name} has no ready endpoint")
                else:
                    status = "DEGRADING"
                    reason = f"{healthy} of {baseline} instances of the mini-service are serving" + (
                        f": {result.first_problem()}" if result.first_problem() else "")
                if status != "DEPLOYING":
                    update = (status, reason, self._instances(snapshot, result, spec))
                    if update != last:
                        last = update
                        yield DeploymentUpdate(status, reason, instances=update[2])
            if status == "DEPLOYING" and time.monotonic() > deadline:
                await self.plane.release(function.version_id)
                reason = self._timeout_reason(service_name, ns, snapshot, result, problem)
                yield DeploymentUpdate("ERROR", reason + await self._last_warning(ns))
                return
            await asyncio.sleep(s.poll_interval if status == "DEPLOYING" else s.watch_interval)

    async def _last_warning(self, ns: str) -> str:
        """The namespace's latest Warning event, which says why a pod never started (a node that refuses
        it, an image that cannot be pulled), so the ERROR names the cause and not only the timeout."""
        try:
            events = await self.kube.warning_events(ns)
        except Exception:  # the reason is complete without it; the cluster may be what failed
            return ""
        if not events:
            return ""
        last = max(events, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
        obj = last.get("involvedObject") or {}
        return (f"; last warning: {str(obj.get('kind', '')).lower()}/{obj.get('name', '')}: "
                f"{last.get('reason', '')}: {last.get('message', '')}".rstrip())

    def _timeout_reason(self, service_name: str, ns: str, snapshot: Snapshot | None, result: SyncResult | None,
                        problem: str | None) -> str:
        after = f"within {self.settings.deploy_timeout:g} s"
        if problem is not None or snapshot is None:
            return f"the function was not serving {after}: {problem or 'the cluster could not be observed'}"
        if snapshot.service is None:
            return f"the mini-service Service {service_name} does not exist in namespace {ns} {after}"
        if not snapshot.ready_endpoint_pods():
            return (f"the mini-service Service {service_name} had no ready endpoint {after} "
                    f"({snapshot.describe_pods()})")
        detail = result.first_problem() if result is not None else None
        return f"the mini-service did not pass its health check {after}" + (f": {detail}" if detail else "")

    @staticmethod
    def _instances(snapshot: Snapshot, result: SyncResult, spec: DeploymentSpec) -> tuple[Instance, ...]:
        states = {s.pod: s for s in result.instances}
        out = []
        for pod in snapshot.selected_pods():
            name = str(dig(pod, "metadata", "name"))
            state = states.get(name)
            health = state.health if state is not None else "starting"
            status = {"healthy": "RUNNING", "failed": "ERRORED"}.get(health, "STARTING")
            out.append(Instance(instance_id=name, instance_status=status, gpu=spec.gpu,
                                instance_type=spec.instance_type, backend=spec.raw.get("backend"),
                                location=dig(pod, "spec", "nodeName")))
        return tuple(out)

    # ── undeploy / shutdown ───────────────────────────────────────────────────────────────────

    async def undeploy(self, function: FunctionVersion, deployment: Deployment) -> None:
        self._prepared.pop(deployment.deployment_id, None)
        await self.plane.release(function.version_id)
        try:
            name = self.namespace_for(function)
            if await namespaces.begin_delete(self.kube, name) and self.settings.undeploy_waits_for_namespace:
                await namespaces.wait_deleted(self.kube, name, timeout=self.settings.undeploy_timeout)
        except ApiException as exc:
            raise NamespaceError(f"removing namespace {self.namespace_for(function)} failed: {api_error(exc)}"
                                 ) from None

    async def shutdown(self) -> None:
        # Deployments stay in the cluster for the next start to resume; local processes do not.
        await self.plane.close()

    def close(self) -> None:
        self.kube.close()
