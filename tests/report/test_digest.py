"""The content digest: a sealed report verifies after a YAML round trip; any edit is detected."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from report_fixtures import MakeContext, result

from conformance.report import digest, yaml_report

TRICKY = ["yes", "null", "2025-01-01T00:00:00Z", "1e3", "0x10", "~", "", " lead", "tab\there", "multi\nline",
          "ünïcødé ✓", "<script>", "- dash", "key: value", "'quoted'", '"dq"', "#hash", "007"]


def _write(make_context: MakeContext, tmp_path: Path, message: str = "m") -> Path:
    ctx = make_context([result("R-MUST", "FAIL", message=message), result("R-SHOULD", "PASS", "SHOULD"),
                        result("R-EXT", "PASS", "EXT", profiles=("ext",))])
    path = tmp_path / "conformance-report.yaml"
    path.write_bytes(yaml_report.render(ctx, {}))
    return path


@pytest.mark.parametrize("message", TRICKY)
def test_round_trip(make_context: MakeContext, tmp_path: Path, message: str) -> None:
    path = _write(make_context, tmp_path, message)
    document = digest.verify(path)
    assert document["rules"][0]["items"][0]["message"] == message
    assert digest.verify(tmp_path) == document  # a folder works too


def test_document_has_the_contract_fields(make_context: MakeContext, tmp_path: Path) -> None:
    document = digest.verify(_write(make_context, tmp_path))
    for key in ("implementation", "harness", "run_id", "profiles_claimed", "verdicts", "rules", "charts", "config",
                "complete", "digest"):
        assert key in document
    assert document["verdicts"]["core"]["verdict"] == "failure"
    assert document["config"]["token"] == "<redacted>"
    assert list(document)[-1] == "digest"


@pytest.mark.parametrize("edit", [
    lambda d: d["verdicts"]["core"].__setitem__("verdict", "success"),
    lambda d: d.__setitem__("complete", False),
    lambda d: d["rules"][0]["items"][0].__setitem__("status", "PASS"),
    lambda d: d["rules"].pop(),
    lambda d: d.__setitem__("extra", 1),
    lambda d: d["implementation"].__setitem__("version", "9.9"),
])
def test_edits_are_detected(make_context: MakeContext, tmp_path: Path, edit) -> None:
    path = _write(make_context, tmp_path)
    document = yaml.safe_load(path.read_text())
    edit(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    with pytest.raises(digest.DigestProblem, match="digest mismatch"):
        digest.verify(path)


def test_text_edit_is_detected(make_context: MakeContext, tmp_path: Path) -> None:
    path = _write(make_context, tmp_path)
    path.write_text(path.read_text().replace("verdict: failure", "verdict: success", 1))
    with pytest.raises(digest.DigestProblem):
        digest.verify(path)


def test_stripped_digest(make_context: MakeContext, tmp_path: Path) -> None:
    path = _write(make_context, tmp_path)
    document = yaml.safe_load(path.read_text())
    del document["digest"]
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(digest.DigestProblem, match="no digest"):
        digest.verify(path)


def test_unquoted_timestamp_is_a_problem_not_a_crash(make_context: MakeContext, tmp_path: Path) -> None:
    path = _write(make_context, tmp_path)
    path.write_text(path.read_text().replace("started_at: '2025-01-01T12:00:00+00:00'",
                                             "started_at: 2025-01-01T12:00:00+00:00"))
    with pytest.raises(digest.DigestProblem):
        digest.verify(path)


@pytest.mark.parametrize("content", ["", "[1, 2]", "a: [unclosed", "\x00\x01"])
def test_unreadable(tmp_path: Path, content: str) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(content)
    with pytest.raises(digest.Unreadable):
        digest.verify(path)
    with pytest.raises(digest.Unreadable):
        digest.verify(tmp_path / "missing.yaml")


def test_seal_refuses_values_yaml_would_change() -> None:
    with pytest.raises(TypeError):
        digest.seal({"a": (1, 2)})
    with pytest.raises(TypeError):
        digest.seal({"a": float("nan")})
