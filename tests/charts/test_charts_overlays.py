"""The case overlays: every one loads, and a malformed one is a ConfigError naming the file and the field."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.charts import naming
from conformance.charts.build import deep_merge
from conformance.charts.cases import CASES_DIR, Case, case_ids, load_cases, parse_case
from conformance.errors import ConfigError

MINIMAL: dict[str, Any] = yaml.safe_load((CASES_DIR / "minimal-http.yaml").read_text())


def test_every_overlay_loads(all_cases: list[Case], overlay_cases: list[Case]) -> None:
    assert [c.id for c in overlay_cases] == case_ids()
    assert len(overlay_cases) == 103
    for case in all_cases:
        assert case.description
        assert case.expect.objects == sum(case.expect.kinds.values())


def test_case_ids_match_the_catalog_contract(overlay_cases: list[Case]) -> None:
    contract = pytest.importorskip("conformance.catalog.cases").CONTRACT_CASES
    assert {c.id for c in overlay_cases} == set(contract)


def test_each_case_trips_at_most_one_restriction(all_cases: list[Case]) -> None:
    assert {c.id: c.violates for c in all_cases if len(c.violates) > 1} == {}


def test_offending_volumes_have_distinctive_names(overlay_cases: list[Case]) -> None:
    # NVIDIA's validator names a refused volume by its name only: a name like "forbidden" or "data" would
    # "match" any error, so a refusal could not be told to name the volume.
    generic = {"forbidden", "volume", "data", "config", "cache", "tmp"}
    names: dict[str, str] = {}
    for case in overlay_cases:
        if not case.id.startswith("volume-forbidden-"):
            continue
        for volume in (case.values.get("miniService") or {}).get("volumes") or []:
            assert volume["name"] not in generic, f"{case.id}: volume {volume['name']!r} is not distinctive"
            assert volume["name"] not in names, f"{case.id} and {names.get(volume['name'])} share a volume name"
            names[volume["name"]] = case.id
    assert len(names) == 10


def test_chart_names_and_versions_are_unique(all_cases: list[Case]) -> None:
    pairs = [(c.chart_name, c.chart_version) for c in all_cases]
    assert len(pairs) == len(set(pairs))


def test_defaults_of_a_minimal_overlay(tmp_path: Path) -> None:
    path = tmp_path / "tiny-case.yaml"
    path.write_text(
        yaml.safe_dump({"description": "x", "expect": {"objects": 2, "kinds": {"Deployment": 1, "Service": 1}}})
    )
    case = parse_case(path)
    assert (case.chart_name, case.chart_version, case.package_name) == ("tiny-case", "1.0.0", "tiny-case-1.0.0.tgz")
    fn = case.function
    assert (fn.helm_chart_service_name, fn.inference_port, fn.inference_url) == (
        "tiny-case",
        8000,
        "/v2/models/echo/infer",
    )
    assert case.rendered_service_name == "tiny-case"
    assert (case.lint, case.violates, case.expect.service, case.expect.hooks) == ("pass", (), "match", {})


def test_the_documented_special_cases_say_what_they_are(all_cases: list[Case]) -> None:
    by_id = {c.id: c for c in all_cases}
    assert by_id["grpc"].function.inference_url == "/gRPC"
    assert by_id["grpc"].function.inference_port == 8001
    assert by_id["version-dashed"].chart_version == "1.0.0-rc1"
    assert by_id["name-underscore"].chart_name == "name_underscore"
    assert by_id["name-special"].chart_name == "name.special"
    assert by_id["multinode"].function.instance_type == "ON-PREM.GPU.B200_8x.x2"
    assert by_id["service-name-mismatch"].rendered_service_name != "service-name-mismatch"


def _write_case(folder: Path, name: str, data: dict[str, Any]) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _variant(**changes: Any) -> dict[str, Any]:
    return deep_merge(MINIMAL, changes)


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        pytest.param(_variant(colour="red"), "colour", "unknown key", id="unknown-top-level-key"),
        pytest.param(
            _variant(function={"inferencPort": 8000}), "function.inferencPort", "unknown key", id="unknown-nested-key"
        ),
        pytest.param(
            _variant(function={"inferencePort": "8000"}),
            "function.inferencePort",
            "not of type 'integer'",
            id="wrong-type",
        ),
        pytest.param(_variant(expect={"objects": -1}), "expect.objects", "minimum", id="out-of-range"),
        pytest.param(_variant(lint="maybe"), "lint", "is not one of", id="bad-enum"),
        pytest.param(
            {k: v for k, v in MINIMAL.items() if k != "expect"},
            "expect",
            "required key is missing",
            id="missing-required",
        ),
        pytest.param(_variant(expect={"kinds": None}), "expect.kinds", "required key is missing", id="missing-nested"),
        pytest.param(
            _variant(templates={"../escape.yaml": "x"}),
            'templates["../escape.yaml"]',
            "relative path inside the chart",
            id="path-escapes-chart",
        ),
        pytest.param(
            _variant(subcharts=[{"name": "sub"}]),
            "subcharts[0].templates",
            "required key is missing",
            id="subchart-field",
        ),
        pytest.param(
            _variant(lint="expect-failure"), "lintReason", "required key is missing", id="lint-failure-needs-reason"
        ),
        pytest.param(_variant(violates=["everything"]), "violates[0]", "is not one of", id="unknown-violation"),
        pytest.param(
            _variant(removeTemplates=["ingress.yaml"]),
            "removeTemplates[0]",
            "no template 'ingress.yaml'",
            id="missing-base-file",
        ),
        pytest.param(_variant(expect={"objects": 3}), "expect.kinds", "add up to 2", id="counts-disagree"),
    ],
)
def test_malformed_overlay_names_file_and_field(tmp_path: Path, data: dict[str, Any], field: str, reason: str) -> None:
    path = _write_case(tmp_path, "broken-case", data)
    with pytest.raises(ConfigError) as err:
        parse_case(path)
    message = str(err.value)
    assert message.startswith(f"{path}: {field}: "), message
    assert reason in message
    assert "\n" not in message


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad-yaml.yaml"
    path.write_text("description: x\nexpect: {objects: 2\n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: line \d+: not valid YAML"):
        parse_case(path)


def test_unknown_case_is_a_missing_file(tmp_path: Path) -> None:
    _write_case(tmp_path, "minimal-http", MINIMAL)
    with pytest.raises(ConfigError, match=r"no-such-case\.yaml: no such case overlay"):
        load_cases(["no-such-case"], cases_dir=tmp_path)


def test_two_cases_with_one_chart_are_refused(tmp_path: Path) -> None:
    _write_case(tmp_path, "first-case", _variant(chart={"name": "shared"}))
    _write_case(tmp_path, "second-case", _variant(chart={"name": "shared"}))
    with pytest.raises(ConfigError, match=r"second-case\.yaml: chart\.name: chart shared-1\.0\.0 is also built by"):
        load_cases(["first-case"], cases_dir=tmp_path)


REFUSED: dict[str, Any] = {
    "description": "A DaemonSet beside the minimal chart.",
    "violates": ["forbidden-kind"],
    "templates": {"daemonset.yaml": "kind: DaemonSet\n", "keep.yaml": "kind: ConfigMap\n"},
    "expect": {"objects": 4, "kinds": {"Deployment": 1, "Service": 1, "DaemonSet": 1, "ConfigMap": 1}},
    "twin": {
        "fix": "the DaemonSet removed.",
        "templates": {"daemonset.yaml": None},
        "expect": {"objects": 3, "kinds": {"DaemonSet": None}},
    },
}


def test_every_refused_case_has_exactly_one_conformant_twin(all_cases: list[Case]) -> None:
    refused = {c.id for c in all_cases if c.violates}
    twins = [c for c in all_cases if c.twin_of]
    assert len(refused) == 73
    assert sorted(t.twin_of for t in twins) == sorted(refused)  # type: ignore[type-var]
    by_id = {c.id: c for c in all_cases}
    for twin in twins:
        case = by_id[str(twin.twin_of)]
        assert twin.id == case.twin_id == f"{case.id}-twin"
        assert twin.violates == () and twin.fix and twin.description.startswith(f"Fixed twin of {case.id}: ")
        # The twin's chart sits beside its case's in the registry, and its name obeys every rule.
        assert twin.chart_name != case.chart_name and re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", twin.chart_name)
        assert "-" not in twin.chart_version
        assert twin.lint == "pass" and twin.expect.hooks == {} and twin.expect.service == "match"


def test_a_twin_keeps_its_case_and_changes_only_what_its_section_says(tmp_path: Path) -> None:
    _write_case(tmp_path, "with-daemonset", REFUSED)
    case, twin = load_cases(["with-daemonset"], cases_dir=tmp_path, twins=True)
    assert (case.id, twin.id, twin.twin_of, twin.fix) == (
        "with-daemonset",
        "with-daemonset-twin",
        "with-daemonset",
        "the DaemonSet removed.",
    )
    assert set(case.templates) == {"daemonset.yaml", "keep.yaml"} and set(twin.templates) == {"keep.yaml"}
    assert twin.expect.kinds == {"Deployment": 1, "Service": 1, "ConfigMap": 1} and twin.expect.objects == 3
    assert (twin.chart_name, twin.chart_version) == ("with-daemonset-twin", "1.0.0")
    # The Service keeps the case's name: overlay templates may spell it out.
    assert twin.function.helm_chart_service_name == twin.rendered_service_name == "with-daemonset"
    assert twin.source == case.source and twin.path == case.path
    # Asked for by id, the twin comes alone; without `twins`, no twin comes along.
    assert [c.id for c in load_cases(["with-daemonset-twin"], cases_dir=tmp_path)] == ["with-daemonset-twin"]
    assert [c.id for c in load_cases(cases_dir=tmp_path)] == ["with-daemonset"]


def test_only_a_refused_case_has_a_twin(tmp_path: Path) -> None:
    path = _write_case(tmp_path, "fine-case", _variant(twin={"fix": "nothing to fix"}))
    with pytest.raises(ConfigError, match=r"fine-case\.yaml: twin: only a refused case"):
        parse_case(path)


@pytest.mark.parametrize(
    ("twin", "field", "reason"),
    [
        pytest.param({"templates": {"daemonset.yaml": None}}, "twin.fix", "required key is missing", id="no-fix"),
        pytest.param({"fix": "x", "violates": []}, "twin.violates", "unknown key", id="twin-violates"),
        pytest.param({"fix": "x", "expect": {"objects": 3}}, "twin: expect.kinds", "add up to 4", id="bad-merge"),
        pytest.param(
            {"fix": "x", "chart": {"name": "Bad_Name"}}, "twin: chart.name", "OCI repository", id="bad-merged-field"
        ),
    ],
)
def test_a_broken_twin_names_the_file_and_the_twin(
    tmp_path: Path, twin: dict[str, Any], field: str, reason: str
) -> None:
    _write_case(tmp_path, "with-daemonset", {**REFUSED, "twin": twin})
    with pytest.raises(ConfigError) as err:
        load_cases(cases_dir=tmp_path, twins=True)
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'with-daemonset.yaml'}: {field}: "), message
    assert reason in message


def test_a_twin_cannot_take_another_charts_name(tmp_path: Path) -> None:
    _write_case(tmp_path, "minimal-http", MINIMAL)
    _write_case(tmp_path, "with-daemonset", deep_merge(REFUSED, {"twin": {"chart": {"name": "minimal-http"}}}))
    with pytest.raises(ConfigError, match=r"with-daemonset\.yaml: twin: chart\.name: chart minimal-http-1\.0\.0"):
        load_cases(["minimal-http"], cases_dir=tmp_path)


def test_unknown_twin_id_names_the_case(tmp_path: Path) -> None:
    _write_case(tmp_path, "minimal-http", MINIMAL)
    with pytest.raises(ConfigError, match=r"minimal-http\.yaml: twin: there is no twin section"):
        load_cases(["minimal-http-twin"], cases_dir=tmp_path)


def test_twin_of_is_no_longer_an_overlay_key(tmp_path: Path) -> None:
    path = _write_case(tmp_path, "fixed-case", _variant(twinOf="nowhere"))
    with pytest.raises(ConfigError, match=r"fixed-case\.yaml: twinOf: unknown key"):
        parse_case(path)


def test_deep_merge_follows_helm_values_semantics() -> None:
    base = {"a": {"keep": 1, "change": 1, "drop": 1}, "list": [1, 2], "scalar": "x"}
    over = {"a": {"change": 2, "drop": None, "new": 3}, "list": [9], "scalar": None}
    assert deep_merge(base, over) == {"a": {"keep": 1, "change": 2, "new": 3}, "list": [9]}
    assert base["a"]["drop"] == 1  # the inputs are left alone


@pytest.mark.parametrize("value", ["UPPER", "has_underscore", "-leading", "x" * 41, "a b"])
def test_run_id_must_fit_labels_and_names(value: str) -> None:
    with pytest.raises(ConfigError, match=r"^--run-id"):
        naming.run_id(value)


def test_run_id_default_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(naming.RUN_ID_ENV, raising=False)
    assert naming.run_id(None) == "local"
    monkeypatch.setenv(naming.RUN_ID_ENV, "nightly-42")
    assert naming.run_id(None) == "nightly-42"
    assert naming.run_id("given") == "given"


def test_chart_references() -> None:
    assert naming.helm_chart_url("reg:5000", "nvcf-conformance", "minimal-http", "1.0.0") == (
        "oci://reg:5000/nvcf-conformance/charts/minimal-http-1.0.0.tgz"
    )
    assert naming.oci_ref("reg:5000", "team/x", "name.special", "1.0.0+b1") == (
        "oci://reg:5000/team/x/charts/name.special:1.0.0_b1"
    )
    assert naming.registry_address("127.0.0.1:5000").plain_http is True
    assert naming.registry_address("registry.example.com").plain_http is False
    assert naming.registry_address("http://registry.example.com:80") == naming.RegistryAddress(
        "registry.example.com:80", True
    )
    assert naming.registry_address("localhost:5000", plain_http=False).plain_http is False
    with pytest.raises(ConfigError, match="--repository"):
        naming.repository("Upper/Case")
