"""Function API: creating helm-based functions, versions, names, deletion and error shapes (no deployment)."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.client import Nonconformant, NvcfClient
from conformance.plugin import ChartRef, Expect, Functions, params_of
from suites._helpers import unknown_id

pytestmark = pytest.mark.case("minimal-http")

ECHOED = {"helmChart": "helm_chart", "helmChartServiceName": "service_name", "inferenceUrl": "inference_url",
          "inferencePort": "inference_port"}


def _created(reply: Any) -> dict[str, Any]:
    function = reply.field("function")
    for key in ("id", "versionId", "status"):
        if not function.get(key):
            raise Nonconformant(f"the created function has no '{key}': {function}", "wrong-answer")
    return function


@pytest.mark.rule("FN-CREATE-HELM")
def test_create_helm_function(functions: Functions, chart: ChartRef, expect: Expect) -> None:
    reply = functions.create(chart)
    expect.status(reply, 200, 201)
    function = _created(reply)
    assert function["status"] == "INACTIVE", f"a new version must start INACTIVE, it is {function['status']}"
    for key, attr in ECHOED.items():
        sent = getattr(chart, attr)
        assert function.get(key) == sent, f"'{key}' is echoed as {function.get(key)!r}, it was sent as {sent!r}"


@pytest.mark.rule("FN-HELM-FIELDS-PAIRED")
@pytest.mark.parametrize("param", params_of("FN-HELM-FIELDS-PAIRED"))
def test_helm_fields_paired(param: str, functions: Functions, chart: ChartRef, expect: Expect) -> None:
    dropped = "helmChartServiceName" if param == "helmChart-only" else "helmChart"
    extra: dict[str, Any] = {dropped: None}
    if dropped == "helmChart":
        # Without a chart NVCF needs another artifact; an image keeps the pairing the only problem.
        extra["containerImage"] = "nvcr.io/nvidia/example:1.0"
    reply = functions.create(chart, **extra)
    expect.status(reply, 400)


@pytest.mark.rule("FN-HELM-NO-CONTAINER-FIELDS")
@pytest.mark.parametrize("param", params_of("FN-HELM-NO-CONTAINER-FIELDS"))
def test_helm_no_container_fields(param: str, functions: Functions, chart: ChartRef, expect: Expect) -> None:
    value: Any = {
        "containerImage": "nvcr.io/nvidia/example:1.0",
        "containerArgs": "--serve",
        "containerEnvironment": [{"key": "MODE", "value": "conformance"}],
    }[param]
    reply = functions.create(chart, **{param: value})
    expect.status(reply, 400)


def _valid_name(param: str, functions: Functions) -> str:
    unique = functions.name().replace("-", "")
    return {
        "one-character": "x",  # uniqueness is not required of names: NVCF ids tell functions apart
        "mixed-case-with-dash-and-underscore": f"Nvcf-Conformance_{unique}",
        "128-characters": (unique + "a" * 128)[:128],
    }[param]


@pytest.mark.rule("FN-NAME-VALID-ACCEPTED")
@pytest.mark.parametrize("param", params_of("FN-NAME-VALID-ACCEPTED"))
def test_name_valid_accepted(param: str, functions: Functions, chart: ChartRef, expect: Expect) -> None:
    name = _valid_name(param, functions)
    reply = functions.create(chart, name=name)
    expect.status(reply, 200, 201)
    assert _created(reply).get("name") == name


@pytest.mark.rule("FN-NAME-INVALID-REFUSED")
@pytest.mark.parametrize("param", params_of("FN-NAME-INVALID-REFUSED"))
def test_name_invalid_refused(param: str, functions: Functions, chart: ChartRef, expect: Expect) -> None:
    base = functions.name().replace("-", "")
    name = {
        "empty": "",
        "129-characters": (base + "a" * 129)[:129],
        "leading-dash": f"-{base}",
        "leading-underscore": f"_{base}",
        "dot": f"{base}.v1",
        "space": f"{base} v1",
        "slash": f"{base}/v1",
    }[param]
    reply = functions.create(chart, name=name)
    expect.status(reply, 400)


@pytest.mark.rule("FN-NEW-VERSION-SAME-ID")
def test_new_version_keeps_id(functions: Functions, chart: ChartRef, nvcf: NvcfClient, expect: Expect) -> None:
    first = _created(functions.create(chart).expect(200, 201))
    reply = functions.create_version(first["id"], chart, name=first["name"], description="second version")
    expect.status(reply, 200, 201)
    second = _created(reply)
    assert second["id"] == first["id"], f"the new version moved to function {second['id']}, not {first['id']}"
    assert second["versionId"] != first["versionId"], "the new version reuses the first version's id"
    again = nvcf.get_version(first["id"], first["versionId"]).expect(200).field("function")
    for key in ("versionId", "helmChart", "helmChartServiceName", "inferenceUrl", "inferencePort", "status"):
        assert again.get(key) == first.get(key), f"the first version's '{key}' changed to {again.get(key)!r}"


@pytest.mark.rule("FN-VERSION-DELETE")
def test_version_delete(functions: Functions, chart: ChartRef, nvcf: NvcfClient, expect: Expect) -> None:
    function = _created(functions.create(chart).expect(200, 201))
    expect.status(nvcf.delete_version(function["id"], function["versionId"]), 204)


@pytest.mark.rule("FN-VERSION-DELETED-GONE")
def test_version_deleted_gone(functions: Functions, chart: ChartRef, nvcf: NvcfClient, expect: Expect) -> None:
    function = _created(functions.create(chart).expect(200, 201))
    nvcf.delete_version(function["id"], function["versionId"]).expect(200, 202, 204)
    expect.status(nvcf.get_version(function["id"], function["versionId"]), 404)


@pytest.mark.rule("FN-ERROR-PROBLEM-DETAILS")
@pytest.mark.parametrize("param", ["invalid-create-400", "unknown-version-404", "min-above-max-400"])
def test_error_problem_details(param: str, functions: Functions, chart: ChartRef, nvcf: NvcfClient,
                               expect: Expect) -> None:
    if param == "invalid-create-400":
        reply = functions.create(chart, name="-not-a-valid-name")
    elif param == "unknown-version-404":
        function = _created(functions.create(chart).expect(200, 201))
        reply = nvcf.get_version(function["id"], unknown_id())
    else:
        function = _created(functions.create(chart).expect(200, 201))
        reply = functions.deploy(function["id"], function["versionId"],
                                 functions.spec(chart, minInstances=2, maxInstances=1))
    expect.problem_details(reply)
