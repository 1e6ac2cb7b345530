"""The pytest plugin, driven through pytester: gating, markers, result lines, status mapping, cleanup."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import httpcore
import httpx
import pytest
from fake_nvcf import FakeNvcf
from harness_support import API_KEY, TOKEN

import conformance.plugin

# pytester's in-process runs drop modules first imported inside them; importing these here keeps one
# copy of httpx/httpcore, whose exception mapping breaks when two copies meet.
_KEEP_LOADED = (httpcore, httpx, conformance.plugin)

MANIFEST = {
    "registry": "127.0.0.1:5999",
    "repository": "nvcf-conformance/t",
    "charts": [{
        "case": "minimal-http", "chart": "minimal-http", "version": "1.0.0", "digest": "sha256:" + "ab" * 32,
        "helmChart": "oci://127.0.0.1:5999/nvcf-conformance/t/charts/minimal-http-1.0.0.tgz",
        "helmChartServiceName": "minimal-http", "inferencePort": 8000, "inferenceUrl": "/v2/models/echo/infer",
        "package": "/tmp/minimal-http-1.0.0.tgz",
    }],
}


class Run:
    def __init__(self, pytester: pytest.Pytester, address: str) -> None:
        self.pytester = pytester
        self.results = pytester.path / "results"
        config = pytester.path / "target.yaml"
        config.write_text(
            f"implementation: {{name: fake, version: '0'}}\n"
            f"nvcf: {{gateway: '{address}', token: {TOKEN}, api_key: {API_KEY}}}\n"
            "timeouts: {poll_interval: 0.01, deploy_active: 2, deploy_error: 2, undeploy: 2, cleanup_retry: 0.5}\n"
        )
        manifest = pytester.path / "manifest.json"
        manifest.write_text(json.dumps(MANIFEST))
        self.args = ["-p", "conformance.plugin", "--target-config", str(config), "--results-dir", str(self.results),
                     "--charts-manifest", str(manifest), "--run-id", "t1", "-p", "no:cacheprovider", "-o", "addopts="]

    def __call__(self, source: str, *extra: str, subprocess: bool = False) -> pytest.RunResult:
        self.pytester.makepyfile(test_suite=source)
        if subprocess:
            # A KeyboardInterrupt inside an in-process run would stop the outer session too.
            return self.pytester.runpytest_subprocess(*self.args, *extra, timeout=120)
        return self.pytester.runpytest(*self.args, *extra)

    def lines(self) -> list[dict[str, Any]]:
        path = self.results / "results-main.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def by_test(self) -> dict[str, dict[str, Any]]:
        return {line["nodeid"].split("::")[-1]: line for line in self.lines()}

    def meta(self) -> dict[str, Any]:
        return json.loads((self.results / "run-meta.json").read_text())


@pytest.fixture
def run(pytester: pytest.Pytester, fake: FakeNvcf) -> Run:
    return Run(pytester, fake.address)


HEADER = "import pytest\nfrom conformance.client import Nonconformant\n"


def test_profile_gating_skips_unclaimed_rules_with_a_reason(run: Run) -> None:
    source = HEADER + """
@pytest.mark.rule("MULTINODE-ACCEPTED")
@pytest.mark.case("multinode")
def test_multinode(): pass

@pytest.mark.rule("SEC-LIMITS-CURRENT")
@pytest.mark.case("security-no-limits")
def test_security(): pass

@pytest.mark.rule("PULL-SECRETS-CHART-KEPT")
@pytest.mark.case("pull-secrets-chart-provided")
def test_white_box(): pass

@pytest.mark.rule("FN-VERSION-DELETE")
def test_core(): pass
"""
    result = run(source)
    result.assert_outcomes(passed=1, skipped=3)
    lines = run.by_test()
    assert lines["test_multinode"]["status"] == "SKIP"
    assert "--profile multinode" in lines["test_multinode"]["message"]
    assert "kubeconfig" in lines["test_white_box"]["message"]
    assert lines["test_core"]["status"] == "PASS"

    run(source, "--profile", "multinode", "--profile", "security-current").assert_outcomes(passed=3, skipped=1)


def test_exclusive_profiles_are_a_usage_error(run: Run) -> None:
    result = run(HEADER, "--profile", "security-current", "--profile", "security-enforced")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*exclude each other*"])


def test_a_must_rule_never_skips(run: Run) -> None:
    source = HEADER + """
@pytest.mark.rule("FN-CREATE-HELM")
def test_must(): pytest.skip("no registry available")

@pytest.mark.rule("CHART-REF-OTHER-FORM-REFUSED")
@pytest.mark.case("minimal-http")
def test_should(): pytest.skip("optional")
"""
    result = run(source)
    result.assert_outcomes(failed=1, skipped=1)
    lines = run.by_test()
    assert lines["test_must"]["status"] == "ERROR"
    assert "cannot be skipped" in lines["test_must"]["message"]
    assert lines["test_should"]["status"] == "SKIP"


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        ('@pytest.mark.rule("NO-SUCH-RULE")\ndef test_x(): pass\n', "names no rule of the catalog"),
        ("def test_x(): pass\n", "carries no @pytest.mark.rule"),
        ('@pytest.mark.rule("FN-VERSION-DELETE")\n@pytest.mark.rule("FN-CREATE-HELM")\ndef test_x(): pass\n',
         "several rule markers"),
        ('@pytest.mark.rule("FN-VERSION-DELETE")\n@pytest.mark.case("grpc")\ndef test_x(): pass\n',
         "not one of rule FN-VERSION-DELETE's charts"),
    ],
)
def test_marker_problems_are_collection_errors(run: Run, source: str, needle: str) -> None:
    result = run(HEADER + source)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([f"*{needle}*"])
    assert run.lines() == []


def test_status_mapping_fail_versus_error(run: Run) -> None:
    source = HEADER + """
@pytest.fixture
def broken():
    raise RuntimeError("fixture exploded")

@pytest.mark.rule("FN-VERSION-DELETE")
def test_assert(): assert 1 == 2, "implementation said 2"

@pytest.mark.rule("FN-VERSION-DELETE")
def test_nonconformant(): raise Nonconformant("answered 500", "unexpected-http-status")

@pytest.mark.rule("FN-VERSION-DELETE")
def test_crash(): raise KeyError("harness bug")

@pytest.mark.rule("FN-VERSION-DELETE")
def test_fixture(broken): pass

@pytest.mark.rule("FN-VERSION-DELETE")
def test_fail_call(): pytest.fail("explicit failure")
"""
    run(source)
    lines = run.by_test()
    assert lines["test_assert"]["status"] == "FAIL" and "implementation said 2" in lines["test_assert"]["message"]
    assert lines["test_nonconformant"]["status"] == "FAIL"
    assert lines["test_nonconformant"]["outcome"] == "unexpected-http-status"
    assert lines["test_crash"]["status"] == "ERROR" and "KeyError" in lines["test_crash"]["message"]
    assert lines["test_fixture"]["status"] == "ERROR" and "fixture exploded" in lines["test_fixture"]["message"]
    assert lines["test_fail_call"]["status"] == "FAIL"


def test_result_lines_carry_everything_a_report_needs(run: Run) -> None:
    source = HEADER + """
@pytest.mark.rule("FN-CREATE-HELM")
@pytest.mark.case("minimal-http")
def test_create(functions, chart, expect):
    expect.status(functions.create(chart), 200)

@pytest.mark.rule("FN-NAME-INVALID-REFUSED")
@pytest.mark.case("minimal-http")
@pytest.mark.parametrize("param", ["dot"])
def test_param(param): pass
"""
    run(source).assert_outcomes(passed=2)
    line = run.by_test()["test_create"]
    assert line["rule_id"] == "FN-CREATE-HELM" and line["level"] == "MUST" and line["profiles"] == ["core"]
    assert line["status"] == "PASS" and line["outcome"] == "http-2xx"
    assert line["case"] == "minimal-http" and line["chart_digest"] == MANIFEST["charts"][0]["digest"]
    assert line["rerun"].startswith("nvcf-conformance run --rule FN-CREATE-HELM --case minimal-http --target-config ")
    methods = [e["method"] for e in line["transcript"]]
    assert methods[0] == "POST" and "DELETE" in methods  # creation, then the cleanup
    assert all(e["request_headers"]["authorization"] == "Bearer ***" for e in line["transcript"])
    assert TOKEN not in json.dumps(run.lines())
    assert run.by_test()["test_param[dot]"]["param"] == "dot"
    meta = run.meta()
    assert meta["run_id"] == "t1" and meta["complete"] is True and meta["implementation"] == "fake"
    assert meta["target"]["nvcf.token"] == "***" and meta["finished_at"]


@pytest.mark.parametrize(("detail", "naming"), [
    ('Helm chart validation error(s) from NVCF ReVal service: unsupported types: ["apps/v1.DaemonSet"]', "PASS"),
    ("Helm chart validation error(s) from NVCF ReVal service: object 2 is not valid", "FAIL"),
])
def test_a_refusal_yields_a_refusal_names_offender_result(run: Run, fake: FakeNvcf, detail: str,
                                                          naming: str) -> None:
    # The refusal is conformant in any wording (PASS of its rule); whether its text names the offence
    # is the SHOULD rule REFUSAL-NAMES-OFFENDER, reported with the text.
    fake.state.script.deploy_status, fake.state.script.deploy_detail = 400, detail
    source = HEADER + """
@pytest.mark.rule("FN-CREATE-HELM")
@pytest.mark.case("minimal-http")
def test_no_refusal(functions, chart, expect):
    pass

@pytest.mark.rule("CHART-MISSING-REFUSED")
@pytest.mark.case("minimal-http")
def test_missing(chart, expect):
    expect.refused(chart, offenders=["DaemonSet"])
"""
    run(source)
    lines = {(line["rule_id"], line["nodeid"].split("::", 1)[1]): line for line in run.lines()}
    parent = lines[("CHART-MISSING-REFUSED", "test_missing")]
    assert parent["status"] == "PASS" and parent["outcome"] == "refused-at-deployment"
    derived = lines[("REFUSAL-NAMES-OFFENDER", "test_missing::names-offender")]
    assert derived["status"] == naming and derived["level"] == "SHOULD"
    assert derived["message"].startswith("CHART-MISSING-REFUSED: ") and "ReVal" in derived["message"]
    assert derived["transcript"] == [] and derived["case"] == "minimal-http"
    assert not any(rule == "REFUSAL-NAMES-OFFENDER" and node.startswith("test_no_refusal") for rule, node in lines)


def test_cleanup_runs_when_the_test_fails(run: Run, fake: FakeNvcf) -> None:
    source = HEADER + """
@pytest.mark.rule("LIFECYCLE-DEPLOY")
@pytest.mark.case("minimal-http")
def test_fails(deployed_function, chart):
    deployed_function(chart)
    assert False, "something looked wrong"
"""
    run(source).assert_outcomes(failed=1)
    assert run.by_test()["test_fails"]["status"] == "FAIL"
    deleted = [p for m, p in fake.calls("DELETE")]
    assert any("/deployments/functions/" in p for p in deleted)
    assert any(p.startswith("/v2/nvcf/functions/") for p in deleted)


def test_cleanup_runs_on_ctrl_c_and_meta_says_incomplete(run: Run, fake: FakeNvcf) -> None:
    source = HEADER + """
@pytest.mark.rule("FN-CREATE-HELM")
@pytest.mark.case("minimal-http")
def test_interrupted(functions, chart):
    functions.create(chart)
    raise KeyboardInterrupt

@pytest.mark.rule("FN-VERSION-DELETE")
def test_never_runs(): pass
"""
    result = run(source, subprocess=True)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert any(p.startswith("/v2/nvcf/functions/") for _, p in fake.calls("DELETE"))
    assert run.meta()["complete"] is False


def test_unreachable_target_is_an_error_not_a_fail(pytester: pytest.Pytester) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = Run(pytester, f"127.0.0.1:{port}")
    source = HEADER + """
@pytest.mark.rule("FN-CREATE-HELM")
@pytest.mark.case("minimal-http")
def test_create(functions, chart, expect):
    expect.status(functions.create(chart), 200)
"""
    run(source).assert_outcomes(failed=1)
    line = run.by_test()["test_create"]
    assert line["status"] == "ERROR"
    assert "no answer from" in line["message"]
    assert line["transcript"][0]["error"]


def test_rule_and_case_selection(run: Run) -> None:
    source = HEADER + """
@pytest.mark.rule("FN-VERSION-DELETE")
def test_a(): pass

@pytest.mark.rule("FN-CREATE-HELM")
def test_b(): pass
"""
    result = run(source, "--rule", "FN-CREATE-HELM")
    result.assert_outcomes(passed=1, deselected=1)
    assert list(run.by_test()) == ["test_b"]
    bad = run(source, "--rule", "NOPE-RULE")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR


def test_config_error_is_one_line_before_any_test(pytester: pytest.Pytester) -> None:
    config = pytester.path / "target.yaml"
    config.write_text("nvcf: {gateway: gw:1}\n")
    pytester.makepyfile(test_x="def test_x(): pass\n")
    result = pytester.runpytest("-p", "conformance.plugin", "--target-config", str(config),
                                "--results-dir", str(pytester.path / "r"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: no NVCF token configured*"])
    assert not Path(pytester.path / "r").exists()
