"""The mutation runner's logic without any process: verdicts, the mapping file, coverage of MUST rules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.catalog.load import load_catalog
from conformance.mutation import baseline as baselines
from conformance.mutation.mutants import MAPPING_FILE, load_mapping, select, smoke_rules
from conformance.mutation.runner import Outcome, clean_environ, profiles_for, run_command
from conformance.mutation.verdict import CAUGHT, INVALID, SURVIVED, judge, smoke_failures
from conformance.report.model import TestResult as Result


def result(rule: str, status: str, node: str = "t", message: str = "") -> Result:
    return Result(nodeid=f"suites/x.py::{node}", rule_id=rule, level="MUST", profiles=("core",),
                      status=status, message=message)  # type: ignore[arg-type]


def test_a_fail_without_errors_is_caught() -> None:
    v = judge("R", [result("R", "PASS", "a"), result("R", "FAIL", "b", "refused nothing"), result("S", "ERROR")])
    assert v.status == CAUGHT and v.caught_by == ("suites/x.py::b",) and v.message == "refused nothing"


def test_all_pass_survives() -> None:
    assert judge("R", [result("R", "PASS"), result("R", "SKIP"), result("S", "FAIL")]).status == SURVIVED


def test_any_error_of_the_rule_is_invalid_even_beside_a_fail() -> None:
    v = judge("R", [result("R", "FAIL", "a"), result("R", "ERROR", "b", "timed out")])
    assert v.status == INVALID and "timed out" in v.message


@pytest.mark.parametrize("results", [[], [result("R", "SKIP")], [result("S", "FAIL")]])
def test_nothing_run_is_invalid(results: list[Result]) -> None:
    assert judge("R", results).status == INVALID


def test_smoke_failures_name_what_broke() -> None:
    got = smoke_failures(["A", "B", "C"], [result("A", "PASS"), result("B", "FAIL", message="x")])
    assert got == {"B": "FAIL: x", "C": "not run"}


def test_mapping_names_only_catalog_rules() -> None:
    ids = {r.id for r in load_catalog().rules}
    mapping = load_mapping()
    assert set(mapping.entries) <= ids, set(mapping.entries) - ids
    assert set(mapping.smoke) <= ids
    for entry in mapping.entries.values():
        assert set(entry.get("violate") or ()) <= ids


def test_every_must_rule_has_a_mutant_or_a_reason() -> None:
    mutants = select(load_catalog(), load_mapping(), should=True)
    for m in mutants:
        assert m.runnable or (m.no_mutant or m.pending or "").strip(), m.rule
    must = [m for m in mutants if m.level == "MUST"]
    # Gaps are allowed only with a reason; most MUST rules must be provable.
    assert sum(m.runnable for m in must) >= 0.75 * len(must)


def test_default_selection_is_must_and_ext() -> None:
    levels = {m.level for m in select(load_catalog(), load_mapping())}
    assert levels == {"MUST", "EXT"}


def test_smoke_leaves_out_what_the_mutant_breaks() -> None:
    mapping = load_mapping()
    [kinds] = select(load_catalog(), mapping, rules=["KIND-FORBIDDEN"])
    assert "KIND-FORBIDDEN" not in smoke_rules(kinds, mapping)
    [private] = select(load_catalog(), mapping, rules=["PULL-SECRETS-PRIVATE-IMAGE"])
    assert private.violate == ("PULL-SECRETS-ALL-PODS",)


def test_run_command_claims_the_rule_profiles(tmp_path: object) -> None:
    [m] = select(load_catalog(), load_mapping(), rules=["HOOKS-NOT-CREATED"])
    assert profiles_for(m) == ["white-box"]
    cmd = run_command(["HOOKS-NOT-CREATED", "FN-CREATE-HELM"], profiles_for(m), MAPPING_FILE, MAPPING_FILE,
                      "mut-x", None)
    assert cmd[cmd.index("--profile") + 1] == "white-box" and cmd.count("--rule") == 2


def test_target_variables_do_not_leak_into_mutant_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVCF_GATEWAY_ADDR", "127.0.0.1:1")
    monkeypatch.setenv("KUBECONFIG", "/nope")
    env = clean_environ()
    assert "NVCF_GATEWAY_ADDR" not in env and "KUBECONFIG" not in env


def test_every_refused_case_has_a_twin_to_deploy() -> None:
    from conformance.charts.cases import load_cases
    from conformance.mutation.twins import twin_cases

    twins, missing = twin_cases()
    refused = [c for c in load_cases() if c.violates]
    assert missing == () and len(twins) == len(refused) >= 64
    assert all(t.twin_of and t.id == f"{t.twin_of}-twin" and not t.violates for t in twins)
    only, _ = twin_cases(["kind-forbidden-daemonset", "hook-test-twin"])
    assert sorted(t.id for t in only) == ["hook-test-twin", "kind-forbidden-daemonset-twin"]


def _twins_run(*statuses: str, missing: tuple[str, ...] = ()) -> object:
    from conformance.mutation.twins import TwinResult, TwinsRun

    results = tuple(TwinResult(f"case-{i}", f"case-{i}-twin", s, "refused: no" if s == "FAIL" else "ACTIVE", 1.0)
                    for i, s in enumerate(statuses))
    return TwinsRun(results, missing, 12.0)


def test_twins_report_counts_and_names_failures() -> None:
    import io

    from conformance.mutation import report

    run = _twins_run("PASS", "FAIL", "PASS")
    doc = report.document([], [], wall_seconds=1.0, environment="started", twins=run)  # type: ignore[arg-type]
    twins = doc["chart_twins"]
    assert (twins["total"], twins["passed"], twins["failed"], twins["missing"]) == (3, 2, 1, [])
    assert twins["failures"] == [{"twin": "case-1-twin", "case": "case-1", "reason": "refused: no"}]
    assert [t["status"] for t in twins["twins"]] == ["PASS", "FAIL", "PASS"]
    out = io.StringIO()
    report.print_twins(run, out)  # type: ignore[arg-type]
    assert "2/3 deployed" in out.getvalue() and "FAIL case-1-twin: refused: no" in out.getvalue()
    assert "chart_twins" not in report.document([], [], wall_seconds=1.0, environment="started")


def test_a_twin_run_is_ok_only_with_every_twin_passing_and_none_missing() -> None:
    assert _twins_run("PASS", "PASS").ok  # type: ignore[attr-defined]
    assert not _twins_run("PASS", "FAIL").ok  # type: ignore[attr-defined]
    assert not _twins_run("PASS", missing=("refused-without-twin",)).ok  # type: ignore[attr-defined]


@pytest.mark.parametrize(("twin_status", "no_twins", "code", "twins_run"), [
    ("PASS", False, 0, True), ("FAIL", False, 1, True), ("FAIL", True, 0, False)])
def test_a_failing_twin_fails_the_mutation_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, twin_status: str,
                                               no_twins: bool, code: int, twins_run: bool) -> None:
    import contextlib

    import yaml

    from conformance.mutation import cli

    calls: list[str] = []

    @contextlib.contextmanager
    def fake_env(*_: object, **__: object) -> Iterator[object]:
        yield type("Env", (), {"started": True, "run_dir": ""})()

    def fake_mutant(m: object, *_: object, **__: object) -> Outcome:
        return Outcome(m, judge("KIND-FORBIDDEN", [result("KIND-FORBIDDEN", "FAIL")]), 1.0)  # type: ignore[arg-type]

    def fake_twins(*_: object, **__: object) -> object:
        calls.append("twins")
        return _twins_run("PASS", twin_status)

    monkeypatch.setattr(cli, "shared_environment", fake_env)
    monkeypatch.setattr(cli, "run_mutant", fake_mutant)
    monkeypatch.setattr(cli, "run_twins", fake_twins)
    argv = ["--rule", "KIND-FORBIDDEN", "--no-baseline", "--out", str(tmp_path), *(["--no-twins"] if no_twins else [])]
    assert cli.main(argv) == code
    assert calls == (["twins"] if twins_run else [])
    doc = yaml.safe_load((tmp_path / "mutation-report.yaml").read_text())
    assert ("chart_twins" in doc) is twins_run


def test_a_vanished_environment_is_invalid_without_starting_anything(tmp_path: Path) -> None:
    from conformance.env.registry import RegistryEndpoint
    from conformance.mutation.environment import SharedEnv
    from conformance.mutation.runner import ENV_GONE, run_mutant

    env = SharedEnv(RegistryEndpoint("127.0.0.1:1", "u", "p"), tmp_path / "gone.yaml", (), False, "")
    [m] = select(load_catalog(), load_mapping(), rules=["KIND-FORBIDDEN"])
    outcome = run_mutant(m, env, tmp_path, smoke=())
    assert outcome.verdict.status == INVALID and outcome.verdict.message == ENV_GONE
    assert not (tmp_path / "kind-forbidden").exists()


def test_baseline_groups_mutants_by_their_server_flags() -> None:
    mutants = select(load_catalog(), load_mapping(), rules=["KIND-FORBIDDEN", "SEC-LIMITS-ENFORCED", "HOOKS-NOT-RUN"])
    by_flags = baselines.groups(m for m in mutants if m.runnable)
    assert sorted(m.rule for m in by_flags[()]) == ["HOOKS-NOT-RUN", "KIND-FORBIDDEN"]
    assert [m.rule for m in by_flags[("--policy", "enforced")]] == ["SEC-LIMITS-ENFORCED"]


def test_a_rule_failing_on_the_unmutated_reference_makes_its_mutant_invalid() -> None:
    mutant = select(load_catalog(), load_mapping(), rules=["KIND-FORBIDDEN"])[0]
    caught = Outcome(mutant, judge("KIND-FORBIDDEN", [result("KIND-FORBIDDEN", "FAIL")]), 1.0)
    clean = baselines.Baseline((), ("KIND-FORBIDDEN",), {})
    broken = baselines.Baseline((), ("KIND-FORBIDDEN",), {"KIND-FORBIDDEN": "FAIL: refused the allowed twin"})
    assert baselines.judged(caught, clean) is caught
    assert baselines.judged(caught, None) is caught
    invalid = baselines.judged(caught, broken)
    assert invalid.verdict.status == INVALID and "unmutated reference either: FAIL" in invalid.verdict.message
