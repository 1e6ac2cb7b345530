"""The sample charts a run uses: read from a manifest, or built and pushed to the target's registry.

Pushing goes to the registry *as the harness reaches it* (`registry.push_address`), while the
`helmChart` URLs given to NVCF name the registry *as the backend reaches it* (`registry.address`);
the two differ when, say, the backend runs in a cluster that sees the registry under another name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.charts import naming
from conformance.errors import ConfigError, ConformanceError
from conformance.target.config import TargetConfig

SHARED_FILE = "charts.json"  # the run's chart facts, shared by xdist workers and read for run-meta


@dataclass(frozen=True)
class ChartRef:
    """What a test needs to create a function from one case's chart."""

    case: str
    chart: str
    version: str
    helm_chart: str
    service_name: str
    inference_port: int
    inference_url: str
    digest: str | None
    instance_type: str | None = None
    gpu: str | None = None
    package: str | None = None

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> ChartRef:
        if not entry.get("helmChart"):
            raise ConformanceError(f"chart case {entry.get('case')}: the manifest has no helmChart URL (not pushed?)")
        return cls(
            case=entry["case"], chart=entry["chart"], version=entry["version"], helm_chart=entry["helmChart"],
            service_name=entry["helmChartServiceName"], inference_port=int(entry["inferencePort"]),
            inference_url=entry["inferenceUrl"], digest=entry.get("digest"),
            instance_type=entry.get("instanceType"), gpu=entry.get("gpu"), package=entry.get("package"),
        )

    def function_body(self, name: str, **overrides: Any) -> dict[str, Any]:
        """A create-function request for this chart; keyword args replace or (with None) drop fields."""
        body: dict[str, Any] = {
            "name": name,
            "inferenceUrl": self.inference_url,
            "inferencePort": self.inference_port,
            "helmChart": self.helm_chart,
            "helmChartServiceName": self.service_name,
            "apiBodyFormat": "CUSTOM",
            "description": f"nvcf-conformance case {self.case}",
        }
        for key, value in overrides.items():
            if value is None:
                body.pop(key, None)
            else:
                body[key] = value
        return body

    def with_helm_chart(self, helm_chart: str) -> ChartRef:
        return dataclasses.replace(self, helm_chart=helm_chart)

    def with_inference_url(self, inference_url: str) -> ChartRef:
        return dataclasses.replace(self, inference_url=inference_url)


class ChartSet:
    """case id → ChartRef, with entries looked up lazily so a run only pays for the cases it uses."""

    def __init__(self, entries: dict[str, dict[str, Any]], registry: str | None, repository: str | None) -> None:
        self.entries = entries
        self.registry = registry
        self.repository = repository

    def __contains__(self, case: str) -> bool:
        return case in self.entries

    def __getitem__(self, case: str) -> ChartRef:
        entry = self.entries.get(case)
        if entry is None:
            raise ConformanceError(
                f"chart case '{case}' is not in the run's chart manifest; rebuild it or drop --charts-manifest"
            )
        return ChartRef.from_entry(entry)

    def url(self, name: str, version: str) -> str:
        """A documented-form helmChart URL for another name/version in the same repository."""
        if not (self.registry and self.repository):
            raise ConformanceError("the chart manifest names no registry/repository to build chart URLs from")
        return naming.helm_chart_url(self.registry, self.repository, name, version)

    def summary(self) -> dict[str, dict[str, Any]]:
        return dict(self.entries)


def load_manifest(path: str | Path) -> ChartSet:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"--charts-manifest {path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--charts-manifest {path}: not a readable JSON manifest ({exc})") from None
    charts = data.get("charts") if isinstance(data, dict) else data
    if not isinstance(charts, list) or not all(isinstance(e, dict) and "case" in e for e in charts):
        raise ConfigError(
            f"--charts-manifest {path}: expected {{charts: [{{case, helmChart, ...}}]}} (`charts push --json`)"
        )
    registry = data.get("registry") if isinstance(data, dict) else None
    repository = data.get("repository") if isinstance(data, dict) else None
    return ChartSet({e["case"]: e for e in charts}, registry, repository)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def provision(target: TargetConfig, run_id: str, cases: Iterable[str], results_dir: Path) -> ChartSet:
    """Build and push the cases not pushed yet in this run (xdist workers share the work under a lock).

    What the folder records was pushed to one registry and repository: when the target now names
    another (a reused folder, an environment restarted on another port), none of it is used."""
    wanted = sorted(set(cases))
    shared = results_dir / SHARED_FILE
    _, backend_address, repository = _destination(target, run_id)
    with _locked(results_dir / ".charts.lock"):
        known: dict[str, Any] = json.loads(shared.read_text()) if shared.exists() else {"charts": {}}
        if (known.get("registry"), known.get("repository")) != (backend_address, repository):
            known = {"charts": {}}
        missing = [c for c in wanted if c not in known["charts"]]
        if missing:
            entries, registry, repository = _push(target, run_id, missing)
            known["charts"].update(entries)
            known["registry"], known["repository"] = registry, repository
            tmp = shared.with_suffix(".tmp")
            tmp.write_text(json.dumps(known, indent=2) + "\n")
            tmp.replace(shared)
    return ChartSet(known["charts"], known.get("registry"), known.get("repository"))


def read_shared(results_dir: Path) -> dict[str, dict[str, Any]]:
    shared = results_dir / SHARED_FILE
    try:
        return dict(json.loads(shared.read_text())["charts"])
    except (OSError, ValueError, KeyError):
        return {}


def _destination(target: TargetConfig, run_id: str) -> tuple[naming.RegistryAddress, str, str]:
    """Where the run's charts go: (push address, registry host:port as the backend sees it, repository)."""
    creds = target.push_registry
    if creds is None:
        raise ConfigError(
            "no registry to push the sample charts to: set registry.address, registry.username and "
            "registry.password (NVCF_REGISTRY, NVCF_REGISTRY_USERNAME, NVCF_REGISTRY_PASSWORD) "
            "or pass --charts-manifest"
        )
    push_address = naming.registry_address(creds[0], target["registry.plain_http"])
    backend_address = naming.registry_address(target.registry_address or creds[0]).host_port
    return push_address, backend_address, naming.repository(target["registry.repository"], run_id)


def _push(target: TargetConfig, run_id: str, cases: list[str]) -> tuple[dict[str, Any], str, str]:
    from conformance.charts import manifest, pipeline
    from conformance.charts.cases import load_cases
    from conformance.charts.push import push
    from conformance.env.registry import RegistryEndpoint

    creds = target.push_registry
    assert creds is not None  # _destination() refused a target without one
    push_address, backend_address, repository = _destination(target, run_id)
    out = pipeline.default_out()
    report = pipeline.build(load_cases(cases), run_id, out, image=naming.probe_image(backend_address))
    pushed = push(report.charts, RegistryEndpoint(*creds), out, repository=repository,
                  plain_http=push_address.plain_http)
    rules = manifest.rules_by_case()
    by_case = {p.case_id: p for p in pushed}
    entries = {}
    for chart in report.charts:
        entry = manifest.case_entry(chart.case, registry=backend_address, repository=repository,
                                    rules=rules.get(chart.case.id, []), built=chart, pushed=by_case[chart.case.id])
        entries[chart.case.id] = entry
    return entries, backend_address, repository


def push_variant(ctx: Any, chart: ChartRef, *, version: str, drop: tuple[str, ...] = ()) -> ChartRef:
    """Package a changed copy of an already built case (new version, some paths removed) and push it.

    For cases that are about packaging rather than content (a dependency declared but not vendored),
    which the case overlays cannot express.
    """
    import re
    import shutil
    import tarfile
    import tempfile

    from conformance.charts import oci, pipeline
    from conformance.charts.push import _DIGEST, publish_documented_alias

    target: TargetConfig = ctx.target
    entry = read_shared(ctx.results_dir).get(chart.case) or {}
    source = entry.get("chartDir")
    creds = target.push_registry
    if not source or creds is None:
        raise ConformanceError(f"case {chart.case}: no built chart folder or no push registry to make a variant from")
    address = naming.registry_address(creds[0], target["registry.plain_http"])
    repository = naming.repository(target["registry.repository"], ctx.run_id)
    helm = pipeline.helm_for(pipeline.default_out())
    with tempfile.TemporaryDirectory(prefix="variant-") as tmp:
        work = Path(tmp) / chart.chart
        shutil.copytree(source, work)
        for name in drop:
            shutil.rmtree(work / name, ignore_errors=True)
        chart_yaml = work / "Chart.yaml"
        chart_yaml.write_text(re.sub(r"(?m)^version:.*$", f"version: {version}", chart_yaml.read_text()))
        # tarfile, not `helm package`: helm refuses to package a chart whose dependencies are missing,
        # which is exactly the chart some variants must be.
        archive = Path(tmp) / f"{chart.chart}-{version}.tgz"
        with tarfile.open(archive, "w:gz") as tgz:
            tgz.add(work, arcname=chart.chart)
        session = helm.with_registry_config(Path(tmp) / "registry.json")
        login = ["registry", "login", address.host_port, "--username", creds[1], "--password-stdin"]
        if address.plain_http:
            login.append("--plain-http")
        if session.run(login, input_text=creds[2] + "\n", timeout=60).returncode != 0:
            raise ConformanceError(f"helm registry login {address.host_port} failed")
        push = ["push", str(archive), naming.oci_base(address.host_port, repository)]
        if address.plain_http:
            push.append("--plain-http")
        pushed = session.run(push, timeout=300)
        match = _DIGEST.search(pushed.output)
        if pushed.returncode != 0 or match is None:
            raise ConformanceError(f"helm push of the {chart.case} variant failed: {pushed.last_error_line()}")
        publish_documented_alias(oci.Registry(address, creds[1], creds[2]), repository, chart.chart, version)
    backend = naming.registry_address(target.registry_address or creds[0]).host_port
    url = naming.helm_chart_url(backend, repository, chart.chart, version)
    return ChartRef(**{**chart.__dict__, "helm_chart": url, "version": version, "digest": match["digest"]})
