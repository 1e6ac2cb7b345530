"""junit.xml merged across workers, and allure result files in Allure 2's shape."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from report_fixtures import MakeContext, exchange, result

from conformance.report import allure, junit


def _two_workers(make_context: MakeContext):
    gw0 = [result("R-MUST", "PASS", param="a", nodeid="suites/test_kinds.py::test_kind[a]"),
           result("R-MUST", "FAIL", param="b", nodeid="suites/test_kinds.py::test_kind[b]",
                  message="DaemonSet deployed \x00 <&>", transcript=(exchange(),))]
    gw1 = [result("R-SHOULD", "SKIP", "SHOULD", nodeid="suites/test_x.py::TestX::test_s", message="no kubeconfig"),
           result("R-EXT", "ERROR", "EXT", profiles=("ext",), nodeid="suites/test_x.py::test_e", message="timeout"),
           result("R-EXT", "XFAIL", "EXT", profiles=("ext",), nodeid="suites/test_x.py::test_xf")]
    return make_context(gw0, gw1)


def test_junit_merges_workers_with_counts(make_context: MakeContext) -> None:
    ctx = _two_workers(make_context)
    root = ET.fromstring(junit.render(ctx))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == ("5", "1", "1", "2")
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"R-MUST", "R-SHOULD", "R-EXT"}
    assert suites["R-MUST"].get("tests") == "2" and suites["R-MUST"].get("failures") == "1"
    failure = suites["R-MUST"].find("testcase/failure")
    assert failure is not None and "<&>" in failure.get("message", "") and "\x00" not in failure.get("message", "")
    case = suites["R-SHOULD"].find("testcase")
    assert case is not None and case.get("classname") == "suites.test_x.TestX" and case.get("name") == "test_s"
    assert suites["R-EXT"].find("testcase/skipped[@type='xfail']") is not None
    props = {p.get("name"): p.get("value") for p in suites["R-MUST"].iter("property")}
    assert props["rule"] == "R-MUST" and props["level"] == "MUST"


def test_junit_lists_in_scope_rules_without_results(make_context: MakeContext) -> None:
    ctx = make_context([result("R-MUST", "PASS")])
    root = ET.fromstring(junit.render(ctx))
    missing = [s for s in root.iter("testsuite") if s.get("name") == "R-SHOULD"]
    assert missing and missing[0].find("testcase/error") is not None


REQUIRED = {"uuid", "historyId", "name", "fullName", "status", "statusDetails", "stage", "start", "stop", "labels",
            "steps", "attachments", "parameters"}


def test_allure_results(make_context: MakeContext) -> None:
    ctx = _two_workers(make_context)
    files = allure.render(ctx)
    results = [json.loads(v) for k, v in files.items() if k.endswith("-result.json")]
    assert len(results) == 5
    for data in results:
        assert set(data) >= REQUIRED
        assert data["status"] in {"passed", "failed", "broken", "skipped"}
        labels = {(lab["name"], lab["value"]) for lab in data["labels"]}
        assert any(name == "epic" for name, _ in labels)
        assert any(name == "feature" for name, _ in labels)
        for attachment in data["attachments"]:
            assert attachment["source"] in files  # every attachment it names is written
    by_name = {d["fullName"]: d for d in results}
    failed = by_name["suites/test_kinds.py::test_kind[b]"]
    assert failed["status"] == "failed"
    assert ("severity", "critical") in {(lab["name"], lab["value"]) for lab in failed["labels"]}
    assert ("epic", "core") in {(lab["name"], lab["value"]) for lab in failed["labels"]}
    assert failed["steps"][0]["name"].startswith("POST https://api.example.test")
    transcript = json.loads(files[failed["attachments"][0]["source"]])
    assert transcript[0]["request_headers"]["Authorization"] == "<redacted>"
    assert by_name["suites/test_x.py::test_e"]["status"] == "broken"
    errored = by_name["suites/test_x.py::test_e"]
    assert ("severity", "minor") in {(lab["name"], lab["value"]) for lab in errored["labels"]}
    assert "environment.properties" in files


def test_allure_uuids_are_stable(make_context: MakeContext, tmp_path: Path) -> None:
    # A rebuild of the same results overwrites instead of doubling the results in allure.
    assert set(allure.render(_two_workers(make_context))) == set(allure.render(_two_workers(make_context)))
