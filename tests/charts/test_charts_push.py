"""Push to and pull from a real authenticated OCI registry (the session `registry` fixture)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from conformance import cli
from conformance.charts import cache, naming, push
from conformance.charts.helm import Helm
from conformance.charts.pipeline import BuiltChart
from conformance.env.registry import RegistryEndpoint
from conformance.errors import ConformanceError

pytestmark = pytest.mark.env

# A plain name, a dashed version and a dotted name: the references most likely to go wrong.
SAMPLE = ("minimal-http", "version-dashed", "name-special")


def _pull(helm: Helm, registry: RegistryEndpoint, ref: str, version: str | None, dest: Path) -> Path:
    session = helm.with_registry_config(dest / "login.json")
    login = session.run(
        ["registry", "login", registry.address, "--username", registry.username, "--password-stdin", "--plain-http"],
        input_text=registry.password,
    )
    assert login.returncode == 0, login.output
    # No version: helm takes the newest tag; --devel admits pre-releases, as NVIDIA's validator does (Devel=true).
    chosen = ["--version", version] if version else ["--devel"]
    pulled = session.run(["pull", ref, *chosen, "--plain-http", "--destination", str(dest)])
    assert pulled.returncode == 0, pulled.output
    (tgz,) = dest.glob("*.tgz")
    return tgz


def test_push_then_pull_round_trip(
    built: dict[str, BuiltChart], registry: RegistryEndpoint, tmp_path: Path, helm: Helm
) -> None:
    charts = [built[c] for c in SAMPLE]
    out = tmp_path / "out"
    pushed = push.push(charts, registry, out, repository="round-trip", helm=helm)
    for chart, result in zip(charts, pushed, strict=True):
        name, version = chart.case.chart_name, chart.case.chart_version
        assert not result.cached
        assert result.digest.startswith("sha256:") and len(result.digest) == 71
        assert result.helm_chart == f"oci://{registry.address}/round-trip/charts/{name}-{version}.tgz"
        assert result.oci_ref == f"oci://{registry.address}/round-trip/charts/{name}:{version}"
        address = naming.registry_address(registry.address)
        assert push.remote_digest(address, registry, f"round-trip/charts/{name}", version) == result.digest
        dest = tmp_path / f"pull-{chart.case.id}"
        dest.mkdir()
        tgz = _pull(helm, registry, f"oci://{registry.address}/round-trip/charts/{name}", version, dest)
        assert tgz.name == chart.package.name
        assert cache.file_sha256(tgz) == chart.sha256  # the very package that was built
        # The documented URL read as Helm (and NVIDIA's validator) reads it: a repository of that name.
        as_helm_reads_it = tmp_path / f"documented-{chart.case.id}"
        as_helm_reads_it.mkdir()
        tgz = _pull(helm, registry, result.helm_chart, None, as_helm_reads_it)
        assert cache.file_sha256(tgz) == chart.sha256
    # The login used for pushing does not outlive the push.
    assert not list(helm.home.glob("login-*"))


def test_second_push_is_a_cache_hit(
    built: dict[str, BuiltChart], registry: RegistryEndpoint, tmp_path: Path, helm: Helm
) -> None:
    charts = [built[c] for c in SAMPLE]
    out = tmp_path / "out"
    started = time.monotonic()
    first = push.push(charts, registry, out, repository="cache-hit", helm=helm)
    cold = time.monotonic() - started
    started = time.monotonic()
    second = push.push(charts, registry, out, repository="cache-hit", helm=helm)
    warm = time.monotonic() - started
    assert [p.cached for p in first] == [False] * 3 and [p.cached for p in second] == [True] * 3
    assert [p.digest for p in second] == [p.digest for p in first]
    assert warm < cold, (warm, cold)
    # Another repository on the same registry is another target: pushed again.
    elsewhere = push.push(charts[:1], registry, out, repository="cache-hit-elsewhere", helm=helm)
    assert [p.cached for p in elsewhere] == [False]


def test_push_cache_is_checked_against_the_registry(
    built: dict[str, BuiltChart], registry: RegistryEndpoint, tmp_path: Path, helm: Helm
) -> None:
    chart = built["minimal-http"]
    out = tmp_path / "out"
    push.push([chart], registry, out, repository="cache-check", helm=helm)
    # A record the registry cannot confirm (wiped storage, tag since overwritten) is not trusted.
    store = cache.Store(out)
    (record_file,) = store.pushed.glob("*.json")
    record = json.loads(record_file.read_text())
    record_file.write_text(json.dumps({**record, "digest": "sha256:" + "0" * 64}))
    again = push.push([chart], registry, out, repository="cache-check", helm=helm)
    assert not again[0].cached and again[0].digest == record["digest"]


def test_wrong_password_fails_without_echoing_it(
    built: dict[str, BuiltChart], registry: RegistryEndpoint, tmp_path: Path, helm: Helm
) -> None:
    wrong = RegistryEndpoint(registry.address, registry.username, "definitely-wrong-password-123")
    with pytest.raises(ConformanceError) as err:
        push.push([built["minimal-http"]], wrong, tmp_path / "out", repository="wrong-password", helm=helm)
    assert "login" in str(err.value) and wrong.password not in str(err.value)
    assert "***" in repr(wrong)


def test_cli_push_and_list(
    registry: RegistryEndpoint,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHARTS_TEST_PASSWORD", registry.password)
    out = tmp_path / "out"
    argv = [
        "charts", "push", "--run-id", "cli-push", "--case", "minimal-http", "grpc", "--out", str(out),
        "--registry", registry.address, "--registry-username", registry.username,
        "--registry-password-env", "CHARTS_TEST_PASSWORD", "--repository", "cli", "--json",
    ]  # fmt: skip
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    assert registry.password not in captured.out + captured.err
    pushed = json.loads(captured.out)
    assert [c["case"] for c in pushed["charts"]] == ["grpc", "minimal-http"]
    for entry in pushed["charts"]:
        assert entry["digest"].startswith("sha256:")
        assert entry["helmChart"] == f"oci://{registry.address}/cli/charts/{entry['chart']}-{entry['version']}.tgz"

    # The manifest keeps the digests: list shows them, and so does a rebuild of unchanged charts.
    assert cli.main(["charts", "build", "--run-id", "cli-push", "--case", "grpc", "--out", str(out)]) == 0
    capsys.readouterr()
    assert cli.main(["charts", "list", "--run-id", "cli-push", "--out", str(out), "--json"]) == 0
    listed = {e["case"]: e for e in json.loads(capsys.readouterr().out)["charts"]}
    assert listed["grpc"]["digest"] == next(c["digest"] for c in pushed["charts"] if c["case"] == "grpc")
    assert listed["kind-list"]["digest"] is None  # never pushed
    assert listed["kind-list"]["helmChart"] == f"oci://{registry.address}/cli/charts/kind-list-1.0.0.tgz"
