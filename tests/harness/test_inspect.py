"""Inspector helpers that need no cluster: hook detection and secret scrubbing."""

from __future__ import annotations

from conformance.inspect import hook_objects, summary
from conformance.inspect.cluster import _without_data


def test_hook_objects_by_annotation_or_name() -> None:
    objects = [
        {"kind": "Job", "metadata": {"name": "a", "annotations": {"helm.sh/hook": "pre-install"}}},
        {"kind": "Job", "metadata": {"name": "hook-test"}},
        {"kind": "Deployment", "metadata": {"name": "mini-service", "namespace": "ns"}},
    ]
    assert [o["metadata"]["name"] for o in hook_objects(objects, ["hook-test"])] == ["a", "hook-test"]
    assert summary(objects[2]) == "Deployment ns/mini-service"


def test_secret_data_never_leaves_the_inspector() -> None:
    secret = {"kind": "Secret", "type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "c2VjcmV0"},
              "metadata": {"name": "s", "managedFields": [{}]}}
    cleaned = _without_data(secret)
    assert "data" not in cleaned and "managedFields" not in cleaned["metadata"]
