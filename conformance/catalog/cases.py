"""The sample-chart case ids agreed with the charts side: `sample-charts/cases/<id>.yaml` for each.

The list is a contract, not a derivation: the catalog may only name these ids, and the charts side may
only ship these files. Changing it means changing both sides together.
"""

from __future__ import annotations

from typing import Final

ALLOWED_KINDS: Final = (
    "configmap",
    "secret",
    "service",
    "deployment",
    "replicaset",
    "statefulset",
    "job",
    "cronjob",
    "pod",
    "serviceaccount",
    "role",
    "rolebinding",
    "persistentvolumeclaim",
)
FORBIDDEN_KINDS: Final = (
    "daemonset",
    "ingress",
    "networkpolicy",
    "clusterrole",
    "clusterrolebinding",
    "namespace",
    "persistentvolume",
    "storageclass",
    "horizontalpodautoscaler",
    "poddisruptionbudget",
    "resourcequota",
    "limitrange",
    "priorityclass",
    "mutatingwebhookconfiguration",
    "validatingwebhookconfiguration",
    "endpoints",
    "custom-resource",
)
SERVICE_TYPES: Final = ("clusterip", "headless", "nodeport", "loadbalancer", "externalname")
ALLOWED_VOLUMES: Final = ("configmap", "secret", "projected", "persistentvolumeclaim", "emptydir")
FORBIDDEN_VOLUMES: Final = (
    "hostpath",
    "nfs",
    "downwardapi",
    "projected-serviceaccounttoken",
    "projected-downwardapi",
    "csi",
    "ephemeral",
    "iscsi",
    "image",
    "gitrepo",
)
HOOKS: Final = (
    "pre-install",
    "post-install",
    "pre-upgrade",
    "post-upgrade",
    "pre-delete",
    "post-delete",
    "pre-rollback",
    "post-rollback",
    "test",
)
SECURITY: Final = (
    "no-limits",
    "privileged",
    "host-network",
    "host-pid",
    "host-ipc",
    "run-as-non-root-missing",
    "automount-token",
    "privilege-escalation",
    "capabilities",
    "seccomp-unconfined",
    "host-port",
    # The other Pod Security Standards controls (Baseline, then Restricted).
    "apparmor-unconfined",
    "selinux-custom",
    "sysctls-unsafe",
    "lifecycle-host",
    "proc-mount-unmasked",
    "run-as-root-user",
    "capabilities-not-dropped",
    "privilege-escalation-unset",
    "seccomp-unset",
)

CONTRACT_CASES: Final[frozenset[str]] = frozenset(
    {
        "minimal-http",
        "grpc",
        *(f"kind-allowed-{k}" for k in ALLOWED_KINDS),
        *(f"kind-forbidden-{k}" for k in FORBIDDEN_KINDS),
        *(f"service-{t}" for t in SERVICE_TYPES),
        *(f"volume-allowed-{v}" for v in ALLOWED_VOLUMES),
        *(f"volume-forbidden-{v}" for v in FORBIDDEN_VOLUMES),
        *(f"hook-{h}" for h in HOOKS),
        "hook-forbidden-kind",
        "crd-in-crds-dir",
        "crd-in-templates",
        "objects-300",
        "objects-301",
        "version-dashed",
        "name-underscore",
        "name-special",
        "service-name-templated",
        "service-name-mismatch",
        "service-port-mismatch",
        "pull-secrets-all-pod-specs",
        "pull-secrets-chart-provided",
        "overrides",
        "multinode",
        *(f"security-{s}" for s in SECURITY),
        "kind-list",
        "apiversion-apps-v1beta1",
        "object-too-large",
        "subchart-forbidden-kind",
        "subchart-valid",
        "doc-example",
        "doc-example-version-v1",
    }
)
