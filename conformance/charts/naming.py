"""Run ids, registry addresses and the chart references NVCF is given."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from conformance.errors import ConfigError

# The run id ends up in label values and in the names of cluster-scoped objects (a DNS label), so it
# must satisfy both; 40 characters leave room for the prefix and the case id in those names.
RUN_ID = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")
RUN_ID_ENV = "NVCF_CONFORMANCE_RUN_ID"
DEFAULT_RUN_ID = "local"
DEFAULT_REPOSITORY = "nvcf-conformance"
# OCI distribution-spec repository path components.
_REPO_COMPONENT = re.compile(r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$")


def run_id(value: str | None) -> str:
    """The run id to use: the given one, else $NVCF_CONFORMANCE_RUN_ID, else 'local'."""
    chosen = value or os.environ.get(RUN_ID_ENV) or DEFAULT_RUN_ID
    if not RUN_ID.fullmatch(chosen):
        raise ConfigError(
            f"--run-id {chosen!r}: use 1-40 lowercase letters, digits and '-' (it becomes a label value "
            "and part of object names)"
        )
    return chosen


def repository(value: str | None, run: str | None = None) -> str:
    """The repository charts go to: the given one, else `nvcf-conformance/<run id>`.

    Charts carry their run id, so two runs build different packages under the same name and version;
    a repository per run keeps one run from overwriting (and a backend from pulling) another's chart.
    """
    default = f"{DEFAULT_REPOSITORY}/{run}" if run else DEFAULT_REPOSITORY
    chosen = (value or default).strip("/")
    if not chosen or not all(_REPO_COMPONENT.fullmatch(part) for part in chosen.split("/")):
        raise ConfigError(f"--repository {value!r}: not a valid OCI repository path (lowercase, '/'-separated)")
    return chosen


@dataclass(frozen=True)
class RegistryAddress:
    """`host:port` plus whether to speak plain HTTP to it."""

    host_port: str
    plain_http: bool


_LOOPBACK = re.compile(r"^(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d+)?$")


def registry_address(address: str, plain_http: bool | None = None) -> RegistryAddress:
    """Parse `host:port` or `http(s)://host:port`.

    Without an explicit choice, loopback addresses (the embedded registry) are plain HTTP and
    everything else is HTTPS; an `http://` prefix also selects plain HTTP.
    """
    text = address.strip().rstrip("/")
    scheme_plain: bool | None = None
    if text.startswith("http://"):
        text, scheme_plain = text.removeprefix("http://"), True
    elif text.startswith("https://"):
        text, scheme_plain = text.removeprefix("https://"), False
    if not text or "/" in text or " " in text:
        raise ConfigError(f"--registry {address!r}: expected host[:port] (no path)")
    if plain_http is None:
        plain_http = scheme_plain if scheme_plain is not None else bool(_LOOPBACK.fullmatch(text))
    return RegistryAddress(text, plain_http)


def oci_base(registry: str, repo: str) -> str:
    """Where `helm push` sends charts: oci://REGISTRY/REPOSITORY/charts."""
    return f"oci://{registry}/{repo}/charts"


def oci_ref(registry: str, repo: str, name: str, version: str) -> str:
    """The reference helm pulls: repository REPOSITORY/charts/NAME, tag = version ('+' becomes '_')."""
    return f"{oci_base(registry, repo)}/{name}:{version.replace('+', '_')}"


def helm_chart_url(registry: str, repo: str, name: str, version: str) -> str:
    """The NVCF `helmChart` value, in the documented form oci://REGISTRY/REPOSITORY/charts/NAME-X.Y.Z.tgz."""
    return f"{oci_base(registry, repo)}/{name}-{version}.tgz"


def documented_path_repository(repo: str, name: str, version: str) -> str | None:
    """The repository named by the documented URL read as an OCI reference, as Helm reads it.

    Helm (and NVIDIA's chart validator, which pulls through Helm) takes `oci://R/REPO/charts/NAME-X.Y.Z.tgz`
    as the repository `REPO/charts/NAME-X.Y.Z.tgz` and pulls its newest tag, not as `REPO/charts/NAME`
    at tag X.Y.Z. Publishing the chart there too makes the documented URL resolve under both readings.
    None when that name is not a valid repository (a version with build metadata `+`).
    """
    alias = f"{repo}/charts/{name}-{version}.tgz"
    return alias if all(_REPO_COMPONENT.fullmatch(part) for part in alias.split("/")) else None


PROBE_REPOSITORY = "nvcf-conformance/mini-service"
PROBE_TAG = "0.1.0"


def probe_image(registry: str | None) -> str | None:
    """The mini-service image as a backend pulls it: from the registry the charts go to.

    Naming the registry in the image is what makes pull-secret checks meaningful: NVCF's injected
    secret must authorise exactly that registry (a bare `nvcf-conformance/...` would mean Docker Hub).
    None (no registry known) keeps the base chart's default.
    """
    return f"{registry}/{PROBE_REPOSITORY}:{PROBE_TAG}" if registry else None
