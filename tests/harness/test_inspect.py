"""Inspector helpers that need no cluster: hook detection and secret scrubbing."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.inspect import Inspector, InspectorBlind, hook_objects, summary
from conformance.inspect.cluster import _without_data


def test_hook_objects_by_annotation_kind_and_name_or_job_pod() -> None:
    objects = [
        {"kind": "Job", "metadata": {"name": "a", "annotations": {"helm.sh/hook": "pre-install"}}},
        {"kind": "Job", "metadata": {"name": "hook-test"}},
        # The mini-service Service of a hook case shares the hook's name but is no hook.
        {"kind": "Service", "metadata": {"name": "hook-test"}},
        {"kind": "Pod", "metadata": {"name": "hook-test-x1", "labels": {"batch.kubernetes.io/job-name": "hook-test"}}},
        {"kind": "Deployment", "metadata": {"name": "mini-service", "namespace": "ns"}},
    ]
    found = hook_objects(objects, [("Job", "hook-test")])
    assert [(o["kind"], o["metadata"]["name"]) for o in found] == [
        ("Job", "a"), ("Job", "hook-test"), ("Pod", "hook-test-x1")
    ]
    assert summary(objects[4]) == "Deployment ns/mini-service"


def test_secret_data_never_leaves_the_inspector() -> None:
    secret = {"kind": "Secret", "type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "c2VjcmV0"},
              "metadata": {"name": "s", "managedFields": [{}]}}
    cleaned = _without_data(secret)
    assert "data" not in cleaned and "managedFields" not in cleaned["metadata"]


def _blind_inspector(found: list[dict[str, Any]]) -> Inspector:
    # No cluster: only the listing is replaced, the waiting and judging are the real ones.
    inspector = Inspector.__new__(Inspector)
    inspector.run_id, inspector.timeout, inspector.poll = "run-1", 0.05, 0.01
    inspector.objects = lambda case=None, kinds=None: found  # type: ignore[method-assign]
    return inspector


def test_case_objects_refuses_to_judge_on_nothing_found() -> None:
    with pytest.raises(InspectorBlind, match=r"no Service object labelled .*run-id=run-1,.*case=minimal-http"):
        _blind_inspector([]).case_objects("minimal-http", ["Service"])


def test_case_objects_returns_what_it_sees() -> None:
    service = {"kind": "Service", "metadata": {"name": "mini-service"}}
    assert _blind_inspector([service]).case_objects("minimal-http") == [service]
