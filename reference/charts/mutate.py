"""Turn validated chart objects into what gets applied, the way the docs say NVCF modifies charts.

- every pod spec (Pod, and the templates of Deployment, ReplicaSet, StatefulSet, Job, CronJob) gets
  the registry pull secret(s), after the chart's own, de-duplicated by name;
- hooks and CRDs are left out (never executed, never created; CRDs skipped on installation);
- every object, and every pod template, is labelled with the function version it belongs to, and
  namespaced objects are pinned to the deployment's namespace, so a chart cannot place objects in
  someone else's namespace by hard-coding `metadata.namespace`.

The input objects are never changed: each output object is a deep copy.
"""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Collection, Sequence
from typing import Any

from reference import rules
from reference.charts.credentials import RegistryAuth, dockerconfigjson
from reference.charts.objects import POD_SPEC_PATHS, Manifest, as_list, dig
from reference.charts.render import Rendered
from reference.charts.validate import supported_api_version

VERSION_LABEL = "nvcf.reference/function-version"
DEFAULT_PULL_SECRET = "nvcf-reference-pull-secret"

# Kinds that live outside namespaces: they keep no `metadata.namespace` (only mutants let them through).
CLUSTER_SCOPED = frozenset(
    {
        "Namespace", "Node", "PersistentVolume", "StorageClass", "ClusterRole", "ClusterRoleBinding",
        "CustomResourceDefinition", "PriorityClass", "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration", "APIService", "CSIDriver", "CSINode", "IngressClass", "RuntimeClass",
        "VolumeAttachment", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    }
)
_LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?")


def merge_pull_secrets(existing: Any, names: Sequence[str], *, keep_existing: bool = True) -> list[dict[str, Any]]:
    """Chart-provided entries first (in their order), then ours; each name once."""
    merged: list[dict[str, Any]] = []
    seen: set[str] = set()
    chart_entries = as_list(existing) if keep_existing else []
    for entry in [*chart_entries, *({"name": n} for n in names)]:
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name or name in seen:
            continue
        seen.add(name)
        merged.append({"name": name})
    return merged


def inject_pull_secrets(item: Manifest, names: Sequence[str], *, keep_existing: bool = True) -> None:
    spec = item.pod_spec()
    if spec is not None:
        spec["imagePullSecrets"] = merge_pull_secrets(
            spec.get("imagePullSecrets"), names, keep_existing=keep_existing
        )


def _label(meta: dict[str, Any], key: str, value: str) -> None:
    labels = meta.get("labels")
    if not isinstance(labels, dict):
        labels = meta["labels"] = {}
    labels[key] = value


def label_version(item: Manifest, version_id: str) -> None:
    meta = item.obj.get("metadata")
    if not isinstance(meta, dict):
        meta = item.obj["metadata"] = {}
    _label(meta, VERSION_LABEL, version_id)
    # Labelling pod templates too lets the server find a version's pods; selectors are unaffected
    # because a selector only needs a subset of the pod's labels.
    if item.kind in POD_SPEC_PATHS and item.kind != "Pod":
        template = dig(item.obj, *POD_SPEC_PATHS[item.kind][:-1])
        if isinstance(template, dict):
            template_meta = template.get("metadata")
            if not isinstance(template_meta, dict):
                template_meta = template["metadata"] = {}
            _label(template_meta, VERSION_LABEL, version_id)


def pull_secret_manifest(
    name: str, namespace: str, auths: Sequence[RegistryAuth], *, version_id: str | None = None
) -> dict[str, Any]:
    """The `kubernetes.io/dockerconfigjson` Secret that lets every pod of the chart pull its images."""
    payload = base64.b64encode(dockerconfigjson(auths).encode()).decode()
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if version_id:
        meta["labels"] = {VERSION_LABEL: version_id}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta,
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": payload},
    }


def serve_supported_version(item: Manifest) -> None:
    """The KIND-API-VERSION-REFUSED mutant: an allowed kind at an unsupported API version (apps/v1beta1
    Deployment) is applied at the supported one instead of being refused."""
    supported = supported_api_version(item.kind)
    if supported is not None and item.api_version != supported:
        item.obj["apiVersion"] = supported


def check_label_value(version_id: str) -> None:
    if not _LABEL_VALUE.fullmatch(version_id) or len(version_id) > 63:
        raise ValueError(f"version id {version_id!r} cannot be a Kubernetes label value")


def finalize(
    rendered: Rendered,
    *,
    namespace: str,
    pull_secret_names: Sequence[str],
    version_id: str | None = None,
    violate: Collection[str] = frozenset(),
) -> list[Manifest]:
    """Copies of the objects to apply, modified as documented (and as `violate` mutants break it)."""
    if version_id is not None:
        check_label_value(version_id)
    selected = list(rendered.objects)
    # Mutants: hooks that get created (and, by that, run), CRDs that get installed.
    if rules.HOOKS_NOT_CREATED in violate or rules.HOOKS_NOT_RUN in violate:
        selected += rendered.hooks
    if rules.CRD_NOT_INSTALLED in violate:
        selected = [*rendered.crds, *selected]
    upgrade_versions = rules.KIND_API_VERSION_REFUSED in violate
    inject = rules.PULL_SECRETS_ALL_PODS not in violate
    keep_chart_secrets = rules.PULL_SECRETS_CHART_KEPT not in violate

    out: list[Manifest] = []
    for item in selected:
        copied = Manifest(obj=copy.deepcopy(item.obj), source=item.source, index=item.index, size=item.size)
        meta = copied.obj.get("metadata")
        if not isinstance(meta, dict):
            meta = copied.obj["metadata"] = {}
        if copied.kind not in CLUSTER_SCOPED:
            meta["namespace"] = namespace
        if upgrade_versions:
            serve_supported_version(copied)
        if inject:
            inject_pull_secrets(copied, pull_secret_names, keep_existing=keep_chart_secrets)
        elif not keep_chart_secrets:
            inject_pull_secrets(copied, [], keep_existing=False)
        if version_id is not None:
            label_version(copied, version_id)
        out.append(copied)
    return out
