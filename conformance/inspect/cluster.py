"""White-box evidence: what a run's charts created in the backend's cluster (needs a kubeconfig).

Objects are found by the labels every sample chart stamps on everything it renders,
`nvcf-conformance.io/run-id` and `nvcf-conformance.io/case`, in whatever namespace the implementation
installed them. Secret contents are read only to check that a pull secret authorises a registry and
are never returned: `cluster_objects` carry metadata and specs, not data.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from conformance.client.errors import TargetUnreachable
from conformance.errors import ConformanceError

RUN_LABEL = "nvcf-conformance.io/run-id"
CASE_LABEL = "nvcf-conformance.io/case"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
GPU_RESOURCE = "nvidia.com/gpu"
HOOK_ANNOTATION = "helm.sh/hook"

# kind → (API attribute, list-for-all-namespaces method); namespaced kinds the charts may create.
_LISTERS: dict[str, tuple[str, str]] = {
    "Pod": ("core", "list_pod_for_all_namespaces"),
    "Service": ("core", "list_service_for_all_namespaces"),
    "ConfigMap": ("core", "list_config_map_for_all_namespaces"),
    "Secret": ("core", "list_secret_for_all_namespaces"),
    "ServiceAccount": ("core", "list_service_account_for_all_namespaces"),
    "PersistentVolumeClaim": ("core", "list_persistent_volume_claim_for_all_namespaces"),
    "Deployment": ("apps", "list_deployment_for_all_namespaces"),
    "ReplicaSet": ("apps", "list_replica_set_for_all_namespaces"),
    "StatefulSet": ("apps", "list_stateful_set_for_all_namespaces"),
    "DaemonSet": ("apps", "list_daemon_set_for_all_namespaces"),
    "Job": ("batch", "list_job_for_all_namespaces"),
    "CronJob": ("batch", "list_cron_job_for_all_namespaces"),
    "Role": ("rbac", "list_role_for_all_namespaces"),
    "RoleBinding": ("rbac", "list_role_binding_for_all_namespaces"),
}


@dataclass(frozen=True)
class PodPlacement:
    pod: str
    namespace: str
    node: str | None
    gpus: int
    gpu_product: str | None


class InspectorBlind(ConformanceError):
    """The cluster shows nothing of a function that is deployed: a check there would pass on no evidence."""


class Inspector:
    """Read-only views of one run's objects in the cluster."""

    def __init__(self, kubeconfig: str, run_id: str, *, timeout: float = 120.0, poll: float = 2.0) -> None:
        try:
            from kubernetes import client, config
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise TargetUnreachable(f"the kubernetes client is not installed: {exc}") from None
        try:
            api = config.new_client_from_config(config_file=kubeconfig)
        except Exception as exc:
            raise TargetUnreachable(f"cannot load kubeconfig {kubeconfig}: {exc}") from None
        self._api_client = api
        self._apis = {
            "core": client.CoreV1Api(api), "apps": client.AppsV1Api(api), "batch": client.BatchV1Api(api),
            "rbac": client.RbacAuthorizationV1Api(api), "ext": client.ApiextensionsV1Api(api),
        }
        self.run_id = run_id
        self.timeout = timeout
        self.poll = poll

    # ── listing ──────────────────────────────────────────────────────────────────────────────────

    def _selector(self, case: str | None) -> str:
        selector = f"{RUN_LABEL}={self.run_id}"
        return selector + (f",{CASE_LABEL}={case}" if case else "")

    def _call(self, api: str, method: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._apis[api], method)(**kwargs)
        except Exception as exc:
            status = getattr(exc, "status", None)
            if status == 404:  # a kind the cluster does not serve has no objects
                return None
            raise TargetUnreachable(f"cluster API {method} failed: {getattr(exc, 'reason', exc)}") from None

    def _dicts(self, result: Any) -> list[dict[str, Any]]:
        if result is None:
            return []
        return [self._api_client.sanitize_for_serialization(item) for item in result.items]

    def objects(self, case: str | None = None, kinds: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """The run's (case's) namespaced objects of `kinds` (default: every kind listed above)."""
        found: list[dict[str, Any]] = []
        for kind in kinds or _LISTERS:
            api, method = _LISTERS[kind]
            for obj in self._dicts(self._call(api, method, label_selector=self._selector(case))):
                obj.setdefault("kind", kind)
                found.append(_without_data(obj))
        return found

    def case_objects(self, case: str, kinds: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """The objects of a deployed case, waiting for them to show; none at all is an error, not a pass.

        A check such as "no hook object exists" holds trivially when the inspector looks at the wrong
        cluster or the implementation dropped the charts' labels: it must see the chart's own objects first.
        """
        kinds = list(kinds) if kinds is not None else None
        what = f"{'/'.join(kinds)} object" if kinds else "object"
        found = self.wait_for(f"objects of {case}", lambda: self.objects(case, kinds), bool)
        if not found:
            raise InspectorBlind(
                f"no {what} labelled {self._selector(case)} in the cluster of the "
                "kubeconfig although the function is deployed: the kubeconfig is not the backend's cluster, or the "
                "implementation dropped the charts' labels; the cluster check cannot be judged")
        return found

    def pods(self, case: str | None = None, *, running: bool = False) -> list[dict[str, Any]]:
        pods = self.objects(case, ["Pod"])
        return [p for p in pods if not running or (p.get("status") or {}).get("phase") == "Running"]

    def pod_events(self, case: str) -> list[dict[str, Any]]:
        """Events about the case's pods (why a node did not start one), from those pods' namespaces."""
        pods = self.pods(case)
        names = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in pods}
        events: list[dict[str, Any]] = []
        for ns in sorted({ns for ns, _ in names}):
            for event in self._dicts(self._call("core", "list_namespaced_event", namespace=ns)):
                obj = event.get("involved_object") or event.get("involvedObject") or {}
                if (ns, obj.get("name")) in names:
                    events.append(event)
        return events

    def crds(self, names: Iterable[str] = ()) -> list[dict[str, Any]]:
        """CRDs that carry this run's label or have one of `names`."""
        wanted = set(names)
        result = self._dicts(self._call("ext", "list_custom_resource_definition"))
        return [
            _without_data(c) for c in result
            if (c.get("metadata", {}).get("labels") or {}).get(RUN_LABEL) == self.run_id
            or c.get("metadata", {}).get("name") in wanted
        ]

    def wait_for(self, what: str, probe: Callable[[], list[dict[str, Any]]],
                 done: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
        """Poll `probe` until `done` holds; returns the last result (the caller judges a timeout)."""
        deadline = time.monotonic() + self.timeout
        while True:
            found = probe()
            if done(found) or time.monotonic() >= deadline:
                return found
            time.sleep(self.poll)

    # ── checks ───────────────────────────────────────────────────────────────────────────────────

    def pull_secret_problems(self, pods: list[dict[str, Any]], registry: str) -> list[str]:
        """For each pod: a problem unless one of its imagePullSecrets holds credentials for `registry`."""
        problems = []
        for pod in pods:
            meta = pod.get("metadata") or {}
            name, namespace = meta.get("name"), meta.get("namespace")
            secrets = [s.get("name") for s in (pod.get("spec") or {}).get("imagePullSecrets") or []]
            if not secrets:
                problems.append(f"pod {namespace}/{name} has no imagePullSecrets")
                continue
            if not any(self._authorises(namespace, secret, registry) for secret in secrets):
                problems.append(f"pod {namespace}/{name}: none of its pull secrets {secrets} authorises {registry}")
        return problems

    def _authorises(self, namespace: str, secret: str, registry: str) -> bool:
        result = self._call("core", "read_namespaced_secret", name=secret, namespace=namespace)
        if result is None or not result.data:
            return False
        raw = result.data.get(".dockerconfigjson") or result.data.get(".dockercfg")
        if not raw:
            return False
        try:
            config = json.loads(base64.b64decode(raw))
        except ValueError:
            return False
        auths = config.get("auths", config) if isinstance(config, dict) else {}
        hosts = {str(h).split("://")[-1].rstrip("/") for h in auths}
        return registry in hosts

    def placement(self, pods: list[dict[str, Any]]) -> list[PodPlacement]:
        nodes = {n["metadata"]["name"]: n for n in self._dicts(self._call("core", "list_node"))}
        placed = []
        for pod in pods:
            meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
            node = spec.get("nodeName")
            gpus = sum(int(((c.get("resources") or {}).get("limits") or {}).get(GPU_RESOURCE, 0) or 0)
                       for c in spec.get("containers") or [])
            labels = (nodes.get(node or "", {}).get("metadata") or {}).get("labels") or {}
            placed.append(PodPlacement(meta.get("name"), meta.get("namespace"), node, gpus,
                                       labels.get(GPU_PRODUCT_LABEL)))
        return placed


def _without_data(obj: dict[str, Any]) -> dict[str, Any]:
    """Secrets keep their metadata and type only; noisy managed fields go too."""
    obj = dict(obj)
    if obj.get("kind") == "Secret" or ("data" in obj and obj.get("type")):
        obj.pop("data", None)
        obj.pop("stringData", None)
    meta = dict(obj.get("metadata") or {})
    meta.pop("managedFields", None)
    obj["metadata"] = meta
    return obj


_JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")


def hook_objects(objects: list[dict[str, Any]], refs: Iterable[tuple[str, str]] = ()) -> list[dict[str, Any]]:
    """Objects that are hooks: annotated as one, one of the hook `refs` (kind, name), or a Pod that a
    hook Job started (an executed hook may have been deleted by its policy, its Pods linger)."""
    wanted = set(refs)
    hook_jobs = {name for kind, name in wanted if kind == "Job"}

    def is_hook(obj: dict[str, Any]) -> bool:
        meta = obj.get("metadata") or {}
        if HOOK_ANNOTATION in (meta.get("annotations") or {}) or (obj.get("kind"), meta.get("name")) in wanted:
            return True
        labels = meta.get("labels") or {}
        return obj.get("kind") == "Pod" and any(labels.get(key) in hook_jobs for key in _JOB_NAME_LABELS)

    return [o for o in objects if is_hook(o)]


def summary(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')} {meta.get('namespace')}/{meta.get('name')}"
