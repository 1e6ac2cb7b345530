"""`junit.xml`: all workers' items in one file, one testsuite per rule, for CI test reporters.

Mapping: FAIL → <failure>, ERROR → <error>, SKIP → <skipped>, XFAIL → <skipped type="xfail"> (as
pytest writes it), XPASS → passed with an `xpass` property. An in-scope rule with no result gets one
<error> testcase, and every collected item that never reported (the run stopped first) one <error>
testcase of its own (<skipped> outside the claimed profiles), so a CI view shows the gap the verdict
already counts.

Rerun items (`run --rerun-failures N`) carry their attempts as Maven Surefire writes reruns, which
Jenkins, GitLab and most CI reporters read: FLAKY is a <failure> (an <error> when it counts as ERROR,
see verdict.verdict_status), never a pass, its message prefixed "FLAKY"; every later failed or errored
attempt adds a <rerunFailure>/<rerunError>; and the `attempts` property and <system-out> list every
attempt with its status and message.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from conformance.report.context import ReportContext
from conformance.report.model import FLAKY, TestResult
from conformance.report.verdict import RuleOutcome, verdict_status

# XML 1.0 cannot carry most control characters, and backend messages may contain anything.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _clean(text: str | None) -> str:
    return _INVALID_XML.sub("\ufffd", text or "")


def _split_nodeid(nodeid: str) -> tuple[str, str]:
    """(classname, name) as pytest's junitxml would make them: module path dotted, then the rest."""
    path, _, rest = nodeid.partition("::")
    module = path.removesuffix(".py").replace("/", ".").replace("\\", ".")
    if "::" in rest:
        klass, _, rest = rest.rpartition("::")
        module = f"{module}.{klass.replace('::', '.')}"
    return _clean(module), _clean(rest or path)


def _testcase(suite: ET.Element, rule: RuleOutcome, result: TestResult, ctx: ReportContext) -> str:
    classname, name = _split_nodeid(result.nodeid)
    case = ET.SubElement(suite, "testcase", classname=classname, name=name, time=f"{float(result.duration_s):.3f}")
    props = ET.SubElement(case, "properties")
    values = {"rule": rule.rule_id, "level": rule.level, "case": result.case, "param": result.param,
              "outcome": result.outcome, "status": result.status, "repro": ctx.repro.get(result.nodeid)}
    for key, value in values.items():
        if value:
            ET.SubElement(props, "property", name=key, value=_clean(str(value)))
    message = _clean(result.message)
    detail = message
    if result.nodeid in ctx.repro:
        detail += f"\nrepro bundle: {ctx.repro[result.nodeid]}"
    kind = _outcome(case, rule, result, message, detail)
    if result.attempts:
        _attempts(case, props, result)  # after the outcome element: Surefire's order
    return kind


def _outcome(case: ET.Element, rule: RuleOutcome, result: TestResult, message: str, detail: str) -> str:
    if result.status == FLAKY:
        failed = sum(1 for a in result.attempts if a.status != "PASS")
        message = _clean(f"FLAKY ({failed} of {len(result.attempts)} attempts did not pass): {result.message}")
        if verdict_status(result) == "FAIL":
            kind = f"{rule.level} rule {rule.rule_id} (flaky)"
            ET.SubElement(case, "failure", message=message, type=kind).text = detail
            return "failures"
        ET.SubElement(case, "error", message=message, type="flaky: errors and passes").text = detail
        return "errors"
    if result.status == "FAIL":
        ET.SubElement(case, "failure", message=message, type=f"{rule.level} rule {rule.rule_id}").text = detail
        return "failures"
    if result.status == "ERROR":
        ET.SubElement(case, "error", message=message, type="harness or environment error").text = detail
        return "errors"
    if result.status == "SKIP":
        ET.SubElement(case, "skipped", message=message)
        return "skipped"
    if result.status == "XFAIL":
        ET.SubElement(case, "skipped", type="xfail", message=message or "expected failure").text = detail
        return "skipped"
    return "passed"


def _attempts(case: ET.Element, props: ET.Element, result: TestResult) -> None:
    lines = [f"attempt {a.attempt}: {a.status} ({a.duration_s:.1f} s){': ' + a.message if a.message else ''}"
             for a in result.attempts]
    ET.SubElement(props, "property", name="attempts", value=_clean("; ".join(f"#{a.attempt} {a.status}"
                                                                              for a in result.attempts)))
    # The first attempt is the main <failure>/<error>; later ones that did not pass are its reruns.
    for attempt in result.attempts[1:]:
        kind = {"FAIL": "rerunFailure", "ERROR": "rerunError"}.get(attempt.status)
        if kind:
            ET.SubElement(case, kind, message=_clean(attempt.message), type=f"attempt {attempt.attempt}")
    ET.SubElement(case, "system-out").text = _clean("\n".join(lines))


def _unreported(suite: ET.Element, rule: RuleOutcome, nodeid: str) -> str:
    classname, name = _split_nodeid(nodeid)
    case = ET.SubElement(suite, "testcase", classname=classname, name=name, time="0")
    props = ET.SubElement(case, "properties")
    for key, value in (("rule", rule.rule_id), ("level", rule.level), ("status", "NOT-RUN")):
        ET.SubElement(props, "property", name=key, value=_clean(value))
    message = "not run: the run ended before this item reported"
    if rule.in_scope:
        ET.SubElement(case, "error", message=message, type="not run")
        return "errors"
    ET.SubElement(case, "skipped", message=message)
    return "skipped"


def render(ctx: ReportContext) -> bytes:
    root = ET.Element("testsuites", name="nvcf-conformance")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_time = 0.0
    for rule in ctx.outcomes:
        if not rule.items and not rule.in_scope:
            continue
        suite = ET.SubElement(root, "testsuite", name=rule.rule_id)
        # The rule's roll-up (INCOMPLETE, NOT-RUN, ...) is no testcase outcome, but a reader needs it.
        ET.SubElement(ET.SubElement(suite, "properties"), "property", name="rule_status", value=rule.status)
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        suite_time = 0.0
        for result in rule.items:
            kind = _testcase(suite, rule, result, ctx)
            counts["tests"] += 1
            if kind != "passed":
                counts[kind] += 1
            suite_time += float(result.duration_s)
        for nodeid in rule.unreported if rule.items else ():
            counts["tests"] += 1
            counts[_unreported(suite, rule, nodeid)] += 1
        if not rule.items:
            missing = ET.SubElement(suite, "testcase", classname="conformance.rules", name=rule.rule_id, time="0")
            ET.SubElement(missing, "error", message="no result: the rule was in scope but no test reported it",
                          type="not run")
            counts["tests"] += 1
            counts["errors"] += 1
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("time", f"{suite_time:.3f}")
        total_time += suite_time
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{total_time:.3f}")
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
