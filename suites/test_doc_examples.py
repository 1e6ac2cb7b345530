"""The docs page's own examples, exercised as written: same field values wherever a local target allows.

The create example (`function_name`, an inferenceUrl without a leading slash, port 8001, a chart
`inference-test-1.0.tgz`), the deployment example with its `configuration` (and no instanceType), and
the chart versions the page calls fine. Where a value cannot exist on a local target it is swapped for
the target's own, and the test says so: the page's helmChartServiceName `service_name` is no valid
Service name, and its gpu `L40` / backend `nvcf-default` may not exist there. The gRPC note is in
test_grpc.py (DOC-EXAMPLE-GRPC-NOTE); the instance-type examples are ITYPE-SINGLE-NODE-ACCEPTED's and
MULTINODE-ACCEPTED's.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest

from conformance.client import Nonconformant
from conformance.client.kserve import EchoAnswer
from conformance.plugin import ChartRef, ChartSet, Expect, Functions, variants
from conformance.target.config import TargetConfig

# The page's create body, field for field (name, inferenceUrl, inferencePort, apiBodyFormat).
PAGE_CREATE: dict[str, Any] = {
    "name": "function_name",
    "inferenceUrl": "v2/models/model_name/versions/model_version/infer",
    "inferencePort": 8001,
    "apiBodyFormat": "CUSTOM",
}
# The page's deployment `configuration`, with its placeholders as values.
PAGE_CONFIGURATION: dict[str, Any] = {
    "key_one": "<value>",
    "key_two": {"key_two_subkey_one": "<value>", "key_two_subkey_two": "<value>"},
}


@pytest.mark.rule("DOC-EXAMPLE-CREATE-BODY")
@pytest.mark.case("doc-example")
def test_create_example_as_written(chart: ChartRef, functions: Functions, expect: Expect) -> None:
    assert chart.helm_chart.endswith("/charts/inference-test-1.0.tgz"), chart.helm_chart
    # As written: no description of ours; the chart's own Service name stands in for `service_name`.
    created = functions.create(chart, **PAGE_CREATE, description=None)
    deployed = functions.activate(chart, created)
    reply = deployed.infer("page-example").final.expect(200)
    EchoAnswer.of(reply).echoes("page-example", reply)
    expect.observed("invocation-answered", f"created as the page writes it; pexec {PAGE_CREATE['inferenceUrl']} "
                                           "answered by the mini-service on port 8001")


@pytest.mark.rule("DOC-EXAMPLE-DEPLOY-BODY")
@pytest.mark.case("doc-example")
def test_deploy_example_as_written(chart: ChartRef, functions: Functions, target: TargetConfig,
                                   expect: Expect) -> None:
    spec = {
        "gpu": target["deployment.gpu"],  # the page's L40, where the target has one
        "backend": target["deployment.backend"] or "nvcf-default",
        "maxInstances": 2,
        "minInstances": 1,
        "configuration": PAGE_CONFIGURATION,
    }  # and no instanceType, as on the page
    deployed = functions.deployed(chart, spec=spec)
    reply = deployed.probe()
    body = reply.body if isinstance(reply.body, dict) and reply.status_code == 200 else {}
    values = body.get("values")
    if not isinstance(values, dict):
        raise Nonconformant(f"the mini-service's /probe shows no mounted values: {reply.describe()}", "wrong-answer")
    # The probe parses mounted files as YAML/JSON where it can; a JSON text that reached it unparsed is read here.
    key_two = values.get("key_two.json")
    if isinstance(key_two, str):
        with contextlib.suppress(ValueError):
            key_two = json.loads(key_two)
    got = {"key_one": values.get("key_one"), "key_two": key_two}
    if got != PAGE_CONFIGURATION:
        raise Nonconformant(f"the pods got {got}, not the page's configuration {PAGE_CONFIGURATION}",
                            "deployed-violating")
    expect.observed("deployed-conformant", f"deployed without instanceType; the pods got {PAGE_CONFIGURATION}")


@pytest.mark.rule("DOC-EXAMPLE-CHART-VERSIONS")
@pytest.mark.parametrize(("param", "case"), variants("DOC-EXAMPLE-CHART-VERSIONS"))
def test_chart_versions_the_page_calls_fine(param: str, case: str, charts: ChartSet, expect: Expect) -> None:
    chart = charts[case]
    assert chart.version == param and chart.helm_chart.endswith(f"-{param}.tgz"), chart.helm_chart
    expect.deployed(chart)
