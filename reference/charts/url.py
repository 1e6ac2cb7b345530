"""Parse a function's `helmChart` reference in the form NVCF documents.

    oci://REGISTRY/REPOSITORY/charts/NAME-X.Y.Z.tgz     (pulled through helm from an OCI registry)
    https://HOST/PATH/charts/NAME-X.Y.Z.tgz             (a plain archive download)

The file name is split on the last `-` that is followed by a digit, so `my-chart-1.2.3.tgz` is chart
`my-chart` at `1.2.3`. Every refusal names the part of the URL that is wrong and, where one exists,
the catalog rule it enforces. `violate` relaxes exactly the named rule (the server's mutants).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from reference import rules
from reference.charts.credentials import split_host
from reference.charts.errors import ChartUrlError

Scheme = Literal["oci", "https"]

DOCUMENTED_FORM = "oci://REGISTRY/REPOSITORY/charts/NAME-X.Y.Z.tgz"

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# X.Y.Z, numeric, no leading zeros, as the documented form says; X.Y (and X) too, because the doc's
# own example is `inference-test-1.0.tgz`, NVIDIA's sample chart is versioned `0.1`, and helm accepts both.
_SEMVER_CORE = re.compile(r"(0|[1-9]\d*)(?:\.(0|[1-9]\d*)){0,2}")
# Full SemVer 2 (pre-release, build): only accepted when the dash rule is switched off.
_SEMVER_FULL = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)
# One path component of an OCI repository name (distribution's reference grammar).
_OCI_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_FORM = rules.CHART_REF_OTHER_FORM_REFUSED
_NAME_OK = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")


@dataclass(frozen=True)
class ChartRef:
    """Where a chart lives and what it is called, as read from `helmChart`."""

    url: str
    scheme: Scheme
    registry: str  # host[:port]
    repository: str  # the OCI repository: REPOSITORY/charts/NAME
    name: str
    version: str  # with `exact`: the tag or digest the URL names, "" for the newest release
    # Pulled as the URL says, the way Helm reads it (helm_reference.py): no version of our own, and no
    # check that the archive holds the chart the name and version promise.
    exact: bool = False

    @property
    def host(self) -> str:
        return split_host(self.registry)

    @property
    def oci_ref(self) -> str:
        """What `helm pull` takes, with the version passed separately (`exact`: the URL itself)."""
        return self.url if self.exact else f"oci://{self.registry}/{self.repository}"

    @property
    def download_url(self) -> str:
        """For https references, the archive's own URL."""
        return self.url

    def __str__(self) -> str:
        return self.url if self.exact else f"{self.name} {self.version} ({self.url})"


def _refuse(url: str, part: str, problem: str, rule: str | None) -> ChartUrlError:
    return ChartUrlError(f"helmChart '{url}': {problem}", part=part, rule=rule)


def parse_chart_url(url: str, *, violate: Collection[str] = frozenset()) -> ChartRef:
    """Parse and check `url`; raise ChartUrlError naming the offending part."""
    text = url.strip()
    if not text:
        raise ChartUrlError("helmChart is empty", part="url", rule=rules.CHART_REF_OTHER_FORM_REFUSED)
    if any(c.isspace() or ord(c) < 0x20 for c in text):
        raise _refuse(url, "url", "contains whitespace or control characters", rules.CHART_REF_OTHER_FORM_REFUSED)

    scheme, rest = _scheme(url, text, violate)
    parts = urlsplit(f"{scheme}://{rest}")
    registry = _registry(url, parts.netloc)
    if parts.query or parts.fragment:
        raise _refuse(url, "path", "must not carry a query or a fragment", rules.CHART_REF_OTHER_FORM_REFUSED)

    segments = parts.path.split("/")[1:] if parts.path else []
    if not segments or segments == [""]:
        raise _refuse(url, "path", f"names no chart; expected {DOCUMENTED_FORM}", rules.CHART_REF_OTHER_FORM_REFUSED)
    for segment in segments:
        if segment in ("", ".", ".."):
            raise _refuse(
                url, "repository", f"path has an empty, '.' or '..' segment; expected {DOCUMENTED_FORM}",
                rules.CHART_REF_OTHER_FORM_REFUSED,
            )
    parents, last = segments[:-1], segments[-1]
    lenient_form = rules.CHART_REF_OTHER_FORM_REFUSED in violate

    if last.endswith(".tgz"):
        name, version = _split_file(url, last[: -len(".tgz")], violate)
    elif ":" in last and lenient_form:
        name, version = last.split(":", 1)  # oci://REGISTRY/REPO/NAME:TAG, accepted only by the mutant
    elif lenient_form:
        name, version = _split_file(url, last, violate)
    elif ":" in last:
        raise _refuse(
            url, "file", f"uses an OCI tag ('{last}') instead of a NAME-X.Y.Z.tgz file name;"
            f" expected {DOCUMENTED_FORM}",
            _FORM,
        )
    else:
        raise _refuse(
            url, "file", f"does not end in a NAME-X.Y.Z.tgz file name ('{last}'); expected {DOCUMENTED_FORM}",
            rules.CHART_REF_OTHER_FORM_REFUSED,
        )

    if (not parents or parents[-1] != "charts") and not lenient_form:
        raise _refuse(
            url, "path", f"has no '/charts/' segment before the file name; expected {DOCUMENTED_FORM}",
            rules.CHART_REF_OTHER_FORM_REFUSED,
        )
    _check_name(url, name, violate)
    if scheme == "oci":
        for component in parents:
            if not _OCI_COMPONENT.fullmatch(component):
                raise _refuse(
                    url, "repository",
                    f"repository component '{component}' is not a valid OCI repository name"
                    " (lower-case letters and digits, separated by '.', '_' or '-')",
                    rules.CHART_REF_OTHER_FORM_REFUSED,
                )
    repository = "/".join([*parents, name])
    return ChartRef(url=text, scheme=scheme, registry=registry, repository=repository, name=name, version=version)


def _scheme(url: str, text: str, violate: Collection[str]) -> tuple[Scheme, str]:
    """The scheme we fetch with and the text after `://`.

    Mutants that accept a refused scheme fetch the reference as OCI, so the chart really deploys
    and the harness can see the refusal is missing.
    """
    match = _SCHEME.match(text)
    if match is None:
        if rules.CHART_REF_SCHEME_REFUSED in violate:
            return "oci", text
        raise _refuse(url, "scheme", f"has no scheme; expected {DOCUMENTED_FORM}", rules.CHART_REF_SCHEME_REFUSED)
    scheme, rest = match.group(1), text[match.end() :]
    if scheme in ("oci", "https"):
        return scheme, rest  # type: ignore[return-value]
    if scheme == "http":
        if rules.CHART_REF_HTTP_REFUSED in violate:
            return "oci", rest
        raise _refuse(
            url, "scheme", "uses plain http://, which is not allowed; use oci:// (or https:// for a .tgz download)",
            rules.CHART_REF_HTTP_REFUSED,
        )
    if rules.CHART_REF_SCHEME_REFUSED in violate:
        return "oci", rest
    hint = " (schemes are lower-case)" if scheme.lower() in ("oci", "https") else ""
    raise _refuse(
        url, "scheme", f"scheme '{scheme}' is not supported{hint}; use oci:// (or https:// for a .tgz download)",
        rules.CHART_REF_SCHEME_REFUSED,
    )


def _registry(url: str, netloc: str) -> str:
    if "@" in netloc:
        raise _refuse(url, "host", "must not carry credentials in the URL", rules.CHART_REF_OTHER_FORM_REFUSED)
    if not netloc:
        raise _refuse(url, "host", f"has no registry host; expected {DOCUMENTED_FORM}", _FORM)
    probe = urlsplit(f"//{netloc}")
    try:
        probe.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise _refuse(url, "host", f"registry '{netloc}' has an invalid port", _FORM) from None
    if not probe.hostname:
        raise _refuse(url, "host", f"has no registry host; expected {DOCUMENTED_FORM}", _FORM)
    return netloc.lower()


def _split_file(url: str, stem: str, violate: Collection[str]) -> tuple[str, str]:
    """NAME-VERSION → (NAME, VERSION), splitting on the last '-' that a digit follows."""
    cuts = [i for i in range(len(stem) - 1) if stem[i] == "-" and stem[i + 1].isdigit()]
    # The page says a chart version "v1 is ok": `NAME-vX[.Y[.Z]].tgz` is a version with a leading 'v'.
    leading_v = re.fullmatch(r"(?P<name>.+)-(?P<version>v(?:0|[1-9]\d*)(?:\.(?:0|[1-9]\d*)){0,2})", stem)
    if leading_v:
        if rules.DOC_EXAMPLE_CHART_VERSIONS in violate:
            raise _refuse(url, "version", f"version '{leading_v['version']}' must be X.Y.Z, without a leading 'v'",
                          rules.DOC_EXAMPLE_CHART_VERSIONS)
        return leading_v["name"], leading_v["version"]
    dashed_v = re.fullmatch(r"(?P<name>.+?)-(?P<version>v\d+(?:\.\d+){0,2}-.+)", stem)
    if dashed_v and not cuts:
        # "v1 is ok but v1-test will cause issues"
        raise _refuse(url, "version", f"version '{dashed_v['version']}' contains '-', which chart versions must not "
                      "contain", rules.CHART_VERSION_DASH_REFUSED)
    if not cuts:
        raise _refuse(
            url, "file", f"file name '{stem}.tgz' carries no version; expected NAME-X.Y.Z.tgz",
            rules.CHART_REF_OTHER_FORM_REFUSED,
        )
    name, version = stem[: cuts[-1]], stem[cuts[-1] + 1 :]
    # A short version (X or X.Y) after a name that itself ends in a dotted version is the tail of a
    # dashed version (`chart-1.0.0-2`), not the version.
    if _SEMVER_CORE.fullmatch(version) and (version.count(".") == 2 or "." not in name):
        return name, version
    dashed = "-" in version
    if not dashed and len(cuts) > 1:
        # `chart-1.0.0-2`: the last cut leaves "2"; the version the author meant starts at an earlier cut.
        for cut in cuts[:-1]:
            candidate = stem[cut + 1 :]
            if _SEMVER_CORE.fullmatch(candidate.split("-", 1)[0]):
                name, version, dashed = stem[:cut], candidate, True
                break
    if dashed:
        if rules.CHART_VERSION_DASH_REFUSED in violate and _SEMVER_FULL.fullmatch(version):
            return name, version
        raise _refuse(
            url, "version", f"version '{version}' contains '-', which chart versions must not contain",
            rules.CHART_VERSION_DASH_REFUSED,
        )
    raise _refuse(
        url, "version", f"version '{version}' is not a semantic version X.Y.Z", rules.CHART_REF_OTHER_FORM_REFUSED
    )


def _check_name(url: str, name: str, violate: Collection[str]) -> None:
    if not name:
        raise _refuse(url, "name", "has no chart name before the version", rules.CHART_NAME_SYMBOLS_REFUSED)
    if rules.CHART_NAME_SYMBOLS_REFUSED in violate or _NAME_OK.fullmatch(name):
        return
    for char in name:
        if char == "_":
            what = "an underscore '_'"
        elif char.isupper():
            what = f"an upper-case letter '{char}'"
        elif not (char.islower() or char.isdigit() or char == "-") or not char.isascii():
            what = f"the special symbol '{char}'"
        else:
            continue
        raise _refuse(
            url, "name",
            f"chart name '{name}' contains {what}; only lower-case letters, digits and '-' are allowed",
            rules.CHART_NAME_SYMBOLS_REFUSED,
        )
    raise _refuse(
        url, "name", f"chart name '{name}' must start and end with a lower-case letter or digit",
        rules.CHART_NAME_SYMBOLS_REFUSED,
    )
