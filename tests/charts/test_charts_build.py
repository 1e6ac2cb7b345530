"""build → lint → package with real helm, and the content-addressed cache."""

from __future__ import annotations

import json
import shutil
import tarfile
import time
from pathlib import Path

import pytest
import yaml

from conformance import cli
from conformance.charts import cache, pipeline
from conformance.charts.cases import BASE_DIR, CASES_DIR, Case, load_cases
from conformance.charts.helm import Helm
from conformance.charts.pipeline import BuildReport, BuiltChart
from conformance.errors import ConformanceError

RUN_ID = "pytest-charts"  # the run id of the session build (conftest.py)


def test_every_case_builds_lints_and_packages(cold_build: BuildReport, all_cases: list[Case]) -> None:
    assert [c.case.id for c in cold_build.charts] == [c.id for c in all_cases]
    assert cold_build.built == len(all_cases) and cold_build.cached == 0
    for chart in cold_build.charts:
        assert chart.package.name == f"{chart.case.chart_name}-{chart.case.chart_version}.tgz"
        assert chart.package.is_file() and chart.chart_dir.is_dir()
        assert chart.lint_ok is (chart.case.lint == "pass"), chart.entry.data["lint"]


def test_package_holds_the_chart_it_names(built: dict[str, BuiltChart]) -> None:
    for case_id in ("minimal-http", "version-dashed", "name-underscore", "name-special", "subchart-forbidden-kind"):
        chart = built[case_id]
        with tarfile.open(chart.package) as tgz:
            names = tgz.getnames()
            meta = yaml.safe_load(tgz.extractfile(f"{chart.case.chart_name}/Chart.yaml").read())  # type: ignore[union-attr]
        assert (meta["name"], meta["version"]) == (chart.case.chart_name, chart.case.chart_version)
        assert meta["apiVersion"] == "v2" and meta["type"] == "application"
        assert f"{chart.case.chart_name}/values.yaml" in names
    with tarfile.open(built["subchart-forbidden-kind"].package) as tgz:
        assert "subchart-forbidden-kind/charts/agent/templates/daemonset.yaml" in tgz.getnames()


def test_values_are_stamped_with_run_and_case(built: dict[str, BuiltChart]) -> None:
    for chart in built.values():
        values = yaml.safe_load((chart.chart_dir / "values.yaml").read_text())
        assert values["conformance"] == {"runId": RUN_ID, "caseId": chart.case.id}


def test_no_template_copies_in_the_repository() -> None:
    """Charts exist only under the build output: the repository holds one base and the overlays."""
    assert sorted(p.name for p in (BASE_DIR / "templates").iterdir()) == [
        "_helpers.tpl",
        "deployment.yaml",
        "service.yaml",
    ]
    assert all(p.suffix == ".yaml" for p in CASES_DIR.iterdir())


def test_second_build_is_a_cache_hit(
    cold_build: BuildReport, all_cases: list[Case], charts_out: Path, helm: Helm
) -> None:
    entries = sorted((charts_out / "store").glob("*/entry.json"))
    stamps = {p: p.stat().st_mtime_ns for p in entries}
    warm = pipeline.build(all_cases, RUN_ID, charts_out, helm=helm)
    assert warm.built == 0 and warm.cached == len(all_cases)
    assert {p: p.stat().st_mtime_ns for p in entries} == stamps  # nothing rewritten
    assert [c.package for c in warm.charts] == [c.package for c in cold_build.charts]
    # Measurable: the warm build runs no helm at all, so it is a small fraction of the cold one.
    assert warm.seconds < cold_build.seconds / 3, (warm.seconds, cold_build.seconds)


def test_a_new_run_id_is_a_new_chart(built: dict[str, BuiltChart], charts_out: Path, helm: Helm) -> None:
    case = built["minimal-http"].case
    other = pipeline.build([case], "another-run", charts_out, helm=helm)
    assert other.built == 1
    assert other.charts[0].sha256 != built["minimal-http"].sha256
    values = yaml.safe_load((other.charts[0].chart_dir / "values.yaml").read_text())
    assert values["conformance"]["runId"] == "another-run"


def test_changing_one_overlay_rebuilds_only_that_case(tmp_path: Path, helm: Helm) -> None:
    cases_dir = tmp_path / "cases"
    cases_dir.mkdir()
    for name in ("minimal-http", "grpc"):
        shutil.copy(CASES_DIR / f"{name}.yaml", cases_dir)
    out = tmp_path / "out"
    first = pipeline.build(load_cases(cases_dir=cases_dir), RUN_ID, out, helm=helm)
    assert first.built == 2
    grpc = cases_dir / "grpc.yaml"
    grpc.write_text(grpc.read_text().replace("A gRPC function", "A gRPC function, edited"))
    second = pipeline.build(load_cases(cases_dir=cases_dir), RUN_ID, out, helm=helm)
    assert {c.case.id: c.cached for c in second.charts} == {"grpc": False, "minimal-http": True}


def test_a_deleted_package_is_rebuilt(tmp_path: Path, helm: Helm) -> None:
    case = load_cases(["minimal-http"])
    out = tmp_path / "out"
    first = pipeline.build(case, RUN_ID, out, helm=helm).charts[0]
    first.package.unlink()
    again = pipeline.build(case, RUN_ID, out, helm=helm).charts[0]
    assert not again.cached and again.package.is_file()


def _lint_case(tmp_path: Path, lint: str) -> list[Case]:
    data = yaml.safe_load((CASES_DIR / "minimal-http.yaml").read_text())
    # helm lint refuses an icon that is not a URL, while template and package accept the chart.
    data["chart"] = {"icon": "not a url"}
    data["lint"] = lint
    if lint == "expect-failure":
        data["lintReason"] = "helm lint refuses an icon that is not a URL"
    cases_dir = tmp_path / "cases"
    cases_dir.mkdir(exist_ok=True)
    (cases_dir / "lint-case.yaml").write_text(yaml.safe_dump(data))
    return load_cases(cases_dir=cases_dir)


def test_lint_expect_failure_is_honoured(tmp_path: Path, helm: Helm) -> None:
    report = pipeline.build(_lint_case(tmp_path, "expect-failure"), RUN_ID, tmp_path / "out", helm=helm)
    chart = report.charts[0]
    assert not chart.lint_ok and chart.package.is_file()
    assert any("icon" in m for m in chart.entry.data["lint"]["messages"])


def test_unexpected_lint_failure_stops_the_build(tmp_path: Path, helm: Helm) -> None:
    with pytest.raises(ConformanceError, match=r"^lint-case: helm lint failed: \[ERROR\] Chart.yaml: invalid icon URL"):
        pipeline.build(_lint_case(tmp_path, "pass"), RUN_ID, tmp_path / "out", helm=helm)
    assert not list((tmp_path / "out" / "store").glob("*/entry.json"))  # nothing half-built is kept


def test_build_key_covers_its_inputs(all_cases: list[Case]) -> None:
    case = all_cases[0]
    base = cache.base_fingerprint()
    key = cache.build_key(case, "r", "v3.22.0", None, base)
    assert key == cache.build_key(case, "r", "v3.22.0", None, base)
    variants = {
        cache.build_key(case, "r2", "v3.22.0", None, base),
        cache.build_key(case, "r", "v3.23.0", None, base),
        cache.build_key(case, "r", "v3.22.0", "img:1", base),
        cache.build_key(case, "r", "v3.22.0", None, "0" * 64),
        cache.build_key(all_cases[1], "r", "v3.22.0", None, base),
    }
    assert key not in variants and len(variants) == 5


def test_image_override_is_stamped(tmp_path: Path, helm: Helm) -> None:
    report = pipeline.build(
        load_cases(["minimal-http"]), RUN_ID, tmp_path / "out", image="reg.example:5000/probe:9.9", helm=helm
    )
    values = yaml.safe_load((report.charts[0].chart_dir / "values.yaml").read_text())
    assert values["image"]["repository"] == "reg.example:5000/probe" and values["image"]["tag"] == "9.9"


def test_cli_build_and_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NVCF_RUN_DIR", str(tmp_path / "no-env"))  # no embedded environment is running
    out = tmp_path / "out"
    argv = ["charts", "build", "--run-id", "cli-run", "--case", "minimal-http", "grpc", "--out", str(out), "--json"]
    started = time.monotonic()
    assert cli.main(argv) == 0
    built = json.loads(capsys.readouterr().out)
    assert [c["case"] for c in built["charts"]] == ["grpc", "minimal-http"]
    assert built["built"] == 2 and all(not c["cached"] for c in built["charts"])
    assert cli.main(argv) == 0
    assert all(c["cached"] for c in json.loads(capsys.readouterr().out)["charts"])
    assert time.monotonic() - started < 30

    assert cli.main(["charts", "list", "--run-id", "cli-run", "--out", str(out), "--json", "--case", "grpc"]) == 0
    listed = json.loads(capsys.readouterr().out)["charts"]
    entry = listed[0]
    assert entry["case"] == "grpc" and entry["chart"] == "grpc" and entry["version"] == "1.0.0"
    assert entry["digest"] is None and entry["helmChart"] is None  # not pushed, no registry known
    assert (entry["helmChartServiceName"], entry["inferencePort"], entry["inferenceUrl"]) == ("grpc", 8001, "/gRPC")
    assert entry["package"].endswith("grpc-1.0.0.tgz")
    assert isinstance(entry["rules"], list)

    assert cli.main(["charts", "list", "--out", str(out), "--json", "--registry", "reg.example:5000"]) == 0
    every = json.loads(capsys.readouterr().out)["charts"]
    assert len(every) == 103 + 73  # every case and every refused case's fixed twin
    twin = next(e for e in every if e["case"] == "name-underscore-twin")
    assert (twin["twinOf"], twin["chart"], twin["violates"]) == ("name-underscore", "name-underscore-twin", [])
    assert next(e for e in every if e["case"] == "name-underscore")["twin"] == "name-underscore-twin"
    special = next(e for e in every if e["case"] == "name-special")
    # No --run-id: the run is "local", and each run pushes to its own repository.
    assert special["helmChart"] == "oci://reg.example:5000/nvcf-conformance/local/charts/name.special-1.0.0.tgz"


def test_cli_unknown_case_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.main(["charts", "build", "--case", "no-such-case", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no-such-case.yaml: no such case overlay" in err


def test_cli_push_without_password_variable_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    argv = ["charts", "push", "--out", str(tmp_path), "--registry", "127.0.0.1:1", "--registry-username", "u",
            "--registry-password-env", "CHARTS_TEST_UNSET_VARIABLE"]  # fmt: skip
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "CHARTS_TEST_UNSET_VARIABLE is not set" in err and "\n" not in err
