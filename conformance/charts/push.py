"""`helm push` of built charts to an OCI registry, with a push cache.

Charts go to oci://REGISTRY/REPOSITORY/charts, so each lands in the repository
REPOSITORY/charts/NAME with the tag X.Y.Z, which is what the documented helmChart form
oci://REGISTRY/REPOSITORY/charts/NAME-X.Y.Z.tgz points at. Helm itself (and so NVIDIA's chart
validator) reads that URL as the repository REPOSITORY/charts/NAME-X.Y.Z.tgz, so each chart is also
published there, with the same manifest and tag, and the documented URL resolves either way.
A chart whose package was pushed to the same registry and repository before is not pushed again,
provided the registry still serves that digest under both names (a registry restarted on empty
storage must not be trusted blindly).

The password reaches helm only on stdin (`helm registry login --password-stdin`), into a login file
that exists for the duration of one push session and is removed afterwards.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from conformance.charts import cache, naming, oci
from conformance.charts.helm import Helm
from conformance.charts.pipeline import BuiltChart, helm_for
from conformance.env.registry import RegistryEndpoint
from conformance.errors import ConformanceError

_DIGEST = re.compile(r"^Digest:\s*(?P<digest>sha256:[0-9a-f]{64})\s*$", re.MULTILINE)


@dataclass(frozen=True)
class PushedChart:
    case_id: str
    chart: str
    version: str
    digest: str
    oci_ref: str
    helm_chart: str
    cached: bool


def _redact(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


def remote_digest(address: naming.RegistryAddress, registry: RegistryEndpoint, repo: str, tag: str) -> str | None:
    """The manifest digest the registry serves for repo:tag, or None when unknown or unreachable."""
    return oci.Registry(address, registry.username, registry.password).digest(repo, tag)


def publish_documented_alias(registry: oci.Registry, repo: str, name: str, version: str) -> None:
    """Publish a pushed chart under the documented URL's repository name too (see naming)."""
    alias = naming.documented_path_repository(repo, name, version)
    if alias is None:
        return
    tag = version.replace("+", "_")
    try:
        registry.copy(f"{repo}/charts/{name}", tag, alias, tag)
    except oci.RegistryProblem as exc:
        raise ConformanceError(f"publishing {name} {version} as {alias}:{tag} failed: {exc}") from None


def _login(helm: Helm, address: naming.RegistryAddress, registry: RegistryEndpoint) -> None:
    args = ["registry", "login", address.host_port, "--username", registry.username, "--password-stdin"]
    if address.plain_http:
        args.append("--plain-http")
    result = helm.run(args, input_text=registry.password + "\n", timeout=60)
    if result.returncode != 0:
        line = _redact(result.last_error_line(), registry.password)
        raise ConformanceError(f"helm registry login {address.host_port} as {registry.username!r} failed: {line}")


def _push_one(helm: Helm, chart: BuiltChart, address: naming.RegistryAddress, repo: str, password: str) -> str:
    args = ["push", str(chart.package), naming.oci_base(address.host_port, repo)]
    if address.plain_http:
        args.append("--plain-http")
    result = helm.run(args, timeout=300)
    match = _DIGEST.search(result.output)
    if result.returncode != 0 or match is None:
        line = _redact(result.last_error_line(), password)
        raise ConformanceError(
            f"helm push {chart.package.name} to {naming.oci_base(address.host_port, repo)} failed: {line}"
        )
    return match["digest"]


def push(
    charts: Sequence[BuiltChart],
    registry: RegistryEndpoint,
    out: Path,
    *,
    repository: str = naming.DEFAULT_REPOSITORY,
    plain_http: bool | None = None,
    helm: Helm | None = None,
    verify_remote: bool = True,
    workers: int = 3,
) -> list[PushedChart]:
    """Push what the registry does not already hold; return every chart's reference and digest."""
    address = naming.registry_address(registry.address, plain_http)
    store = cache.Store(out)
    helm = helm or helm_for(out)

    oci_registry = oci.Registry(address, registry.username, registry.password)

    def still_there(chart: BuiltChart, record: dict[str, str]) -> bool:
        if not verify_remote:
            return True
        repo = f"{repository}/charts/{chart.case.chart_name}"
        tag = chart.case.chart_version.replace("+", "_")
        alias = naming.documented_path_repository(repository, chart.case.chart_name, chart.case.chart_version)
        # The same tag may since hold another run's chart, or the registry may have lost its storage.
        return oci_registry.digest(repo, tag) == record["digest"] and (
            alias is None or oci_registry.digest(alias, tag) == record["digest"])

    keys = {
        chart.case.id: cache.push_key(
            address.host_port, repository, chart.case.chart_name, chart.case.chart_version, chart.sha256
        )
        for chart in charts
    }
    records = {chart.case.id: store.push_record(keys[chart.case.id]) for chart in charts}
    known = [chart for chart in charts if records[chart.case.id] is not None]
    # Registries check credentials per request (bcrypt for htpasswd): ask about several charts at once.
    with ThreadPoolExecutor(max_workers=4) as pool:
        present = dict(
            zip(
                [c.case.id for c in known],
                pool.map(lambda c: still_there(c, records[c.case.id] or {}), known),
                strict=True,
            )
        )

    results: dict[str, PushedChart] = {}
    misses: list[tuple[BuiltChart, str]] = []
    for chart in charts:
        record = records[chart.case.id]
        if record is not None and present.get(chart.case.id):
            results[chart.case.id] = _pushed(chart, address, repository, record["digest"], cached=True)
        else:
            misses.append((chart, keys[chart.case.id]))

    if misses:
        helm.home.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="login-", dir=helm.home) as login_dir:
            session = helm.with_registry_config(Path(login_dir) / "config.json")
            _login(session, address, registry)
            with ThreadPoolExecutor(max_workers=workers) as pool:
                futures = [
                    pool.submit(_push_and_alias, session, oci_registry, chart, address, repository,
                                registry.password)
                    for chart, _ in misses
                ]
        failures = [f.exception() for f in futures if f.exception() is not None]
        # Record every push that worked before reporting one that did not: a rerun then skips them.
        for (chart, key), future in zip(misses, futures, strict=True):
            if future.exception() is not None:
                continue
            digest = future.result()
            pushed = _pushed(chart, address, repository, digest, cached=False)
            store.save_push(
                key,
                {
                    "case": chart.case.id,
                    "digest": digest,
                    "ociRef": pushed.oci_ref,
                    "helmChart": pushed.helm_chart,
                    "pushedAt": datetime.now(UTC).isoformat(timespec="seconds"),
                },
            )
            results[chart.case.id] = pushed
        if failures:
            more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
            raise ConformanceError(f"{failures[0]}{more}")
    return [results[chart.case.id] for chart in charts]


def _push_and_alias(helm: Helm, registry: oci.Registry, chart: BuiltChart, address: naming.RegistryAddress,
                    repo: str, password: str) -> str:
    digest = _push_one(helm, chart, address, repo, password)
    publish_documented_alias(registry, repo, chart.case.chart_name, chart.case.chart_version)
    return digest


def _pushed(chart: BuiltChart, address: naming.RegistryAddress, repo: str, digest: str, cached: bool) -> PushedChart:
    name, version = chart.case.chart_name, chart.case.chart_version
    return PushedChart(
        case_id=chart.case.id,
        chart=name,
        version=version,
        digest=digest,
        oci_ref=naming.oci_ref(address.host_port, repo, name, version),
        helm_chart=naming.helm_chart_url(address.host_port, repo, name, version),
        cached=cached,
    )
