"""Repro bundles (contents, rerun command) and the secret guard over the whole report folder."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from report_fixtures import TOKEN, exchange, full_run, meta, result, write_results

from conformance.catalog import load_catalog
from conformance.report.build import build_report
from conformance.report.redact import Redactor, SecretGuard, SecretLeakError, base64_forms


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def _failing_run(tmp_path: Path, chart: Path | None, message: str = "DaemonSet deployed") -> Path:
    leaky = exchange()
    leaky = type(leaky)(**{**leaky.__dict__, "request_headers": {"Authorization": f"Bearer {TOKEN}"},
                           "request_body": json.dumps({"configuration": {"replicas": 2}, "note": TOKEN})})
    item = result("KIND-FORBIDDEN", "FAIL", case="kind-forbidden-daemonset", param="DaemonSet", message=message,
                  transcript=(leaky,), chart_package=str(chart) if chart else None,
                  chart_digest=f"sha256:{hashlib.sha256(chart.read_bytes()).hexdigest()}" if chart else None,
                  cluster_objects=({"kind": "Secret", "metadata": {"name": "pull"},
                                    "data": {".dockerconfigjson": base64.b64encode(f"u:{TOKEN}".encode()).decode()}},
                                   {"kind": "DaemonSet", "metadata": {"name": "mini-ds", "annotations": {"t": TOKEN}}}))
    return write_results(tmp_path / "results", {"gw0": [item], "gw1": [result("FN-CREATE-HELM", "PASS")]},
                         meta(("grpc",)))


def _chart(tmp_path: Path) -> Path:
    chart = tmp_path / "kind-forbidden-daemonset-1.0.0.tgz"
    chart.write_bytes(gzip.compress(b"Chart.yaml etc"))
    return chart


def _all_bytes(folder: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for p in folder.rglob("*") if p.is_file()]


def test_repro_bundle(tmp_path: Path, catalog) -> None:
    chart = _chart(tmp_path)
    results = _failing_run(tmp_path, chart)
    config = tmp_path / "target.yaml"
    config.write_text(f"gateway: https://api.example.test\ntoken: {TOKEN}\n")
    out = tmp_path / "report"
    built = build_report(results, out, secrets=[TOKEN], target_config=config, catalog=catalog)
    bundle = out / "repro" / "KIND-FORBIDDEN__kind-forbidden-daemonset__DaemonSet"
    assert sorted(p.name for p in bundle.iterdir()) == [
        "chart", "cluster-objects.yaml", "item.json", "requests.json", "rerun.json", "rerun.sh", "transcript.json"]
    copied = bundle / "chart" / chart.name
    assert copied.read_bytes() == chart.read_bytes()
    assert (bundle / "chart" / f"{chart.name}.sha256").read_text().split()[0] == hashlib.sha256(
        chart.read_bytes()).hexdigest()
    item = json.loads((bundle / "item.json").read_text())
    assert item["chart"]["sha256"] == f"sha256:{hashlib.sha256(chart.read_bytes()).hexdigest()}"
    assert "problem" not in item["chart"]
    requests = json.loads((bundle / "requests.json").read_text())
    assert requests[0]["body"]["configuration"] == {"replicas": 2}
    assert requests[0]["headers"]["Authorization"] == "<redacted>"
    objects = list(yaml.safe_load_all((bundle / "cluster-objects.yaml").read_text()))
    assert objects[0]["data"][".dockerconfigjson"] == "<redacted>"
    script = (bundle / "rerun.sh").read_text()
    assert os.access(bundle / "rerun.sh", os.X_OK)
    assert ("nvcf-conformance run --profile grpc --rule KIND-FORBIDDEN --case kind-forbidden-daemonset "
            '--target-config "$target_config"') in script
    assert str(config) in script
    subprocess.run(["bash", "-n", str(bundle / "rerun.sh")], check=True)
    assert json.loads((bundle / "rerun.json").read_text())["argv"] == [
        "run", "--profile", "grpc", "--rule", "KIND-FORBIDDEN", "--case", "kind-forbidden-daemonset",
        "--target-config", str(config)]
    assert built.context.repro and "FN-CREATE-HELM" not in str(list((out / "repro").iterdir()))
    # The token was in headers, body, a Secret and an annotation: scrubbed everywhere, in every file.
    for path, content in _all_bytes(out):
        assert TOKEN.encode() not in content, path
        assert not SecretGuard([TOKEN]).leaks(content, path.name), path


def test_rerun_script_without_config(tmp_path: Path, catalog) -> None:
    results = _failing_run(tmp_path, None)
    build_report(results, tmp_path / "r", catalog=catalog)
    script = next((tmp_path / "r" / "repro").glob("*/rerun.sh"))
    text = script.read_text()
    assert "--target-config" in text and "NVCF_TARGET_CONFIG" in text
    subprocess.run(["bash", "-n", str(script)], check=True)
    item = json.loads(next((tmp_path / "r" / "repro").glob("*/item.json")).read_text())
    assert item["chart"]["package"] is None


def test_secret_in_a_message_is_refused(tmp_path: Path, catalog) -> None:
    results = _failing_run(tmp_path, None, message=f"backend echoed the token {TOKEN}")
    out = tmp_path / "report"
    with pytest.raises(SecretLeakError) as info:
        build_report(results, out, secrets=[TOKEN], catalog=catalog)
    text = str(info.value)
    assert TOKEN not in text
    assert "conformance-report.yaml" in text and "summary.html" in text and "junit.xml" in text
    assert not out.exists() or not any(out.rglob("*"))  # nothing was written


def test_base64_secret_is_refused(tmp_path: Path, catalog) -> None:
    encoded = base64.b64encode(f"user:{TOKEN}".encode()).decode()
    results = _failing_run(tmp_path, None, message=f"auth was {encoded}")
    with pytest.raises(SecretLeakError):
        build_report(results, tmp_path / "report", secrets=[TOKEN], catalog=catalog)


def test_secret_inside_a_chart_archive_is_refused(tmp_path: Path, catalog) -> None:
    chart = tmp_path / "c.tgz"
    chart.write_bytes(gzip.compress(f"password: {TOKEN}".encode()))
    results = _failing_run(tmp_path, chart)
    with pytest.raises(SecretLeakError, match=r"c\.tgz"):
        build_report(results, tmp_path / "report", secrets=[TOKEN], catalog=catalog)


@pytest.mark.parametrize("prefix", ["", "u", "us", "user:"])
def test_base64_forms_cover_every_alignment(prefix: str) -> None:
    encoded = base64.b64encode(f"{prefix}{TOKEN}!".encode()).decode()
    assert any(form in encoded for form in base64_forms(TOKEN))


def test_redactor_config_keys() -> None:
    red = Redactor([TOKEN])
    config = red.config({"apiKey": "k-123456789", "secretName": "pull", "tokenEnv": "NVCF_TOKEN",
                         "nested": {"password": "pw-123456"}, "url": f"https://x/?t={TOKEN}"})
    assert config == {"apiKey": "<redacted>", "secretName": "pull", "tokenEnv": "NVCF_TOKEN",
                      "nested": {"password": "<redacted>"}, "url": "https://x/?t=<redacted>"}


def test_full_sample_report_has_no_secret(tmp_path: Path, catalog) -> None:
    results = full_run(tmp_path / "results", _chart(tmp_path))
    built = build_report(results, tmp_path, secrets=[TOKEN], catalog=catalog)
    assert built.exit_code == 1
    for path, content in _all_bytes(tmp_path):
        assert TOKEN.encode() not in content, path
