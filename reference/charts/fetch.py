"""Download a chart archive: `helm pull` for OCI references, a bounded GET for https ones.

Registry errors are sorted into the three a user can act on: the chart is not there, the
credentials are wrong, the registry cannot be reached. Passwords go to helm on stdin only and are
scrubbed from any message built out of tool output. Each such error has a HelmFailure as its cause:
helm's own sentence (or Helm's HTTP getter's), which NVIDIA's validator quotes as `run helm template:`.

A reference read as Helm reads it (`ChartRef.exact`) is pulled as written: `helm pull URL`, with no
`--version` and no `--devel`, which resolves tags exactly as NVIDIA's library call to `LocateChart`.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from reference import rules
from reference.charts.credentials import AuthSource, RegistryAuth, for_registry, redact
from reference.charts.errors import (
    ChartNotFoundError,
    FetchError,
    RegistryAuthError,
    RegistryUnreachableError,
)
from reference.charts.extract import ArchiveLimits
from reference.charts.helm import Helm, HelmRun, HelmTimeout
from reference.charts.helm_reference import go_quote
from reference.charts.url import ChartRef

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class HelmFailure(Exception):
    """What helm itself said (without `Error: `), chained as the cause of a FetchError."""


@dataclass(frozen=True)
class FetchOptions:
    # None: plain HTTP exactly for loopback registries (the embedded environment's); otherwise TLS.
    plain_http: bool | None = None
    timeout: float = 60.0
    # Extra CA bundle for https downloads and TLS registries (a private registry's own CA).
    ca_file: Path | None = None
    archive: ArchiveLimits = field(default_factory=ArchiveLimits)

    def plain_http_for(self, ref: ChartRef) -> bool:
        return self.plain_http if self.plain_http is not None else ref.host in LOCAL_HOSTS


# helm/oras messages, matched loosely: these are the stable fragments across helm 3.x releases.
_NOT_FOUND = re.compile(r"\bnot found\b|\b404\b|manifest unknown|name unknown|no such chart", re.I)
_AUTH = re.compile(
    r"\b401\b|\b403\b|unauthorized|authentication required|denied|basic credential not found|"
    r"invalid username/password|incorrect username or password",
    re.I,
)
_UNREACHABLE = re.compile(
    r"connection refused|no such host|i/o timeout|dial tcp|context deadline exceeded|network is unreachable|"
    r"no route to host|tls:|x509:|server gave HTTP response to HTTPS client|connection reset|EOF\b",
    re.I,
)


def fetch_chart(
    ref: ChartRef,
    auth: AuthSource,
    workdir: Path,
    options: FetchOptions | None = None,
    *,
    violate: Collection[str] = frozenset(),
) -> Path:
    """Download the chart `ref` names into `workdir`; return the archive's path."""
    options = options or FetchOptions()
    creds = for_registry(auth, ref.registry)
    workdir.mkdir(parents=True, exist_ok=True)
    if ref.scheme == "https":
        return _download(ref, creds, workdir / "chart.tgz", options)
    try:
        return _pull(ref, creds, workdir, options)
    except ChartNotFoundError:
        if rules.CHART_MISSING_REFUSED not in violate or ref.exact:
            raise
    # The CHART-MISSING-REFUSED mutant: a version that was never pushed is not refused; the newest
    # version the repository holds is deployed in its place (helm picks it when given no --version).
    return _pull(ref, creds, workdir / "newest", options, newest=True)


def _classify(ref: ChartRef, run: HelmRun, creds: RegistryAuth | None, *, during: str) -> FetchError:
    detail = redact(run.error_line(), creds)
    error = _sort(ref, detail, creds, during)
    error.__cause__ = HelmFailure(detail)
    return error


def _sort(ref: ChartRef, detail: str, creds: RegistryAuth | None, during: str) -> FetchError:
    where = f"registry {ref.registry}"
    if _UNREACHABLE.search(detail) and not _AUTH.search(detail):
        return RegistryUnreachableError(f"{where} cannot be reached ({during}): {detail}")
    if _AUTH.search(detail):
        how = "with the configured credentials" if creds else "without credentials (none are configured for it)"
        return RegistryAuthError(f"{where} refused access to {ref.repository} {how}: {detail}")
    what = ref.url if ref.exact else f"chart {ref.name} version {ref.version}"
    # Read as Helm reads it, a repository without a release tag is not found either.
    if _NOT_FOUND.search(detail) or (ref.exact and "Could not locate a version" in detail):
        where = "" if ref.exact else f" at {ref.oci_ref}"
        return ChartNotFoundError(f"{what} does not exist{where}: {detail}", rule=rules.CHART_MISSING_REFUSED)
    return FetchError(f"cannot pull {what} ({during}): {detail}")


def _pull(
    ref: ChartRef, creds: RegistryAuth | None, workdir: Path, options: FetchOptions, *, newest: bool = False
) -> Path:
    """`helm pull` the chart at the reference's version (with `newest`, at the highest one pushed)."""
    pinned = [] if newest or ref.exact else ["--version", ref.version]
    plain = options.plain_http_for(ref)
    transport = ["--plain-http"] if plain else []
    if options.ca_file and not plain:
        transport += ["--ca-file", str(options.ca_file)]
    dest = workdir / "pulled"
    dest.mkdir(parents=True, exist_ok=True)
    with Helm(workdir) as helm:
        try:
            if creds is not None:
                login = helm.run(
                    ["registry", "login", ref.registry, "--username", creds.username, "--password-stdin", *transport],
                    stdin=creds.password,
                    timeout=options.timeout,
                )
                if login.returncode != 0:
                    raise _classify(ref, login, creds, during="login")
            pull = helm.run(
                ["pull", ref.oci_ref, *pinned, "--destination", str(dest), *transport],
                timeout=options.timeout,
            )
        except HelmTimeout:
            raise RegistryUnreachableError(
                f"registry {ref.registry} did not answer within {options.timeout:g} s"
            ) from None
        if pull.returncode != 0:
            raise _classify(ref, pull, creds, during="pull")
    archives = sorted(dest.glob("*.tgz"))
    if len(archives) != 1:
        raise FetchError(f"helm pull of {ref.oci_ref} {ref.version} left {len(archives)} archives instead of one")
    return archives[0]


def _download(ref: ChartRef, creds: RegistryAuth | None, target: Path, options: FetchOptions) -> Path:
    """GET an https archive, following at most 10 redirects and never leaving https."""
    verify: ssl.SSLContext | bool = True
    if options.ca_file:
        verify = ssl.create_default_context(cafile=str(options.ca_file))
    limit = options.archive.max_archive_bytes
    url = ref.download_url
    auth = httpx.BasicAuth(creds.username, creds.password) if creds else None
    try:
        with httpx.Client(verify=verify, timeout=options.timeout, trust_env=False, follow_redirects=False) as client:
            for _ in range(11):
                # Credentials only ever go to the host they were configured for.
                same_host = urlsplit(url).netloc.lower() == ref.registry
                with client.stream("GET", url, auth=auth if same_host else None) as resp:
                    if resp.is_redirect:
                        nxt = urljoin(url, resp.headers.get("location", ""))
                        if urlsplit(nxt).scheme != "https":
                            raise FetchError(f"{ref.url} redirects to a non-https location; refusing to follow it")
                        url = nxt
                        continue
                    _check_status(ref, resp.status_code, resp.reason_phrase, creds)
                    declared = resp.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > limit:
                        raise FetchError(f"{ref.url} is {declared} bytes, more than the {limit} allowed")
                    received = 0
                    with target.open("wb") as out:
                        for chunk in resp.iter_bytes():
                            received += len(chunk)
                            if received > limit:
                                raise FetchError(f"{ref.url} is larger than the {limit} bytes allowed")
                            out.write(chunk)
                    return target
            raise FetchError(f"{ref.url} redirects more than 10 times")
    except httpx.TimeoutException:
        raise RegistryUnreachableError(f"{ref.registry} did not answer within {options.timeout:g} s") from None
    except httpx.TransportError as exc:
        raise RegistryUnreachableError(f"{ref.registry} cannot be reached: {redact(str(exc), creds)}") from None


def _check_status(ref: ChartRef, status: int, phrase: str, creds: RegistryAuth | None) -> None:
    if status < 400:
        return
    if status in (401, 403):
        # NVIDIA's validator swallows 401 and 403 (trying the next credential) and says this when none worked.
        said = HelmFailure(f"no credential was valid to pull chart {go_quote(ref.url)}, manually verify "
                           "credentials are valid")
        how = "with the configured credentials" if creds else "without credentials (none are configured for it)"
        raise RegistryAuthError(f"{ref.registry} refused access to {ref.url} {how} (HTTP {status})") from said
    # Helm's HTTP getter: `failed to fetch <url> : <status line>`.
    said = HelmFailure(f"failed to fetch {ref.url} : {status} {phrase}".rstrip())
    if status == 404:
        what = ref.url if ref.exact else f"chart {ref.name} version {ref.version}"
        raise ChartNotFoundError(f"{what} does not exist at {ref.url} (HTTP 404)",
                                 rule=rules.CHART_MISSING_REFUSED) from said
    raise FetchError(f"{ref.url} answered HTTP {status}") from said

