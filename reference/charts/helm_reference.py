"""`helmChart` read as Helm reads it, which is how NVIDIA's chart validator reads it.

NVIDIA's helm-reval first checks the URL (`validateHelmChartURL`, HR/reval/run.go): Go's `url.Parse`
must take it, the scheme must be https or oci, there must be a host (and it must not be a private
address: not reproduced, the embedded registry is on loopback). It then hands the URL unchanged to
Helm's `LocateChart` with no version (HR/reval/helm_template.go), so:

    oci://REG/REPO/charts/NAME-X.Y.Z.tgz   the OCI repository REPO/charts/NAME-X.Y.Z.tgz (not a file)
    oci://REG/REPO/charts/NAME:TAG         that tag (`@sha256:...`: that digest)
    oci://REG/REPO/charts/NAME             its newest tag that is a release version
    https://HOST/PATH                      downloaded as it is

"Newest release": with no version, Helm's registry client takes the highest semver tag matching the
constraint `*`, which excludes pre-releases. NVIDIA sets `Devel = true` on its install action, but in
Helm 3 only the CLI turns `--devel` into the constraint `>0.0.0-0`; the library's `LocateChart` never
reads it. `helm pull` with neither `--version` nor `--devel` resolves exactly as that library call.

There is no grammar beyond that: dashes in versions, `_` and `.` in names, no `/charts/` segment, and
no check that the archive's Chart.yaml matches the URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from reference import rules
from reference.charts.errors import ChartUrlError
from reference.charts.url import ChartRef

_SCHEME_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SCHEME_REST = frozenset("0123456789+-.")


@dataclass(frozen=True)
class UrlProblem:
    """One reason helm-reval refuses a chart URL before fetching anything."""

    rule: str  # the catalog rule it is evidence for
    part: str  # which part of the URL (ChartUrlError.part)
    nvidia: str  # helm-reval's own words
    ours: str  # this server's words


def go_quote(text: str) -> str:
    """Go's `%q` (strconv.Quote): double quotes, backslash escapes, printable Unicode kept."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif char in "\n\t\r":
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return '"' + "".join(out) + '"'


def _go_scheme(url: str) -> tuple[str, str] | None:
    """Go's url.getScheme: (scheme, rest), ("", url) when there is none, None for a leading ':'."""
    for index, char in enumerate(url):
        if char in _SCHEME_START:
            continue
        if char in _SCHEME_REST:
            if index == 0:
                return "", url
            continue
        if char == ":":
            return None if index == 0 else (url[:index], url[index + 1 :])
        return "", url
    return "", url


def _parse_error(url: str, problem: str) -> UrlProblem:
    return UrlProblem(rules.CHART_REF_OTHER_FORM_REFUSED, "url",
                      f"invalid helm chart URL: parse {go_quote(url)}: {problem}",
                      f"helmChart '{url}' is not a URL: {problem}")


def url_problems(url: str) -> list[UrlProblem]:
    """Everything helm-reval's input check refuses about `url`, in its order (empty: accepted)."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return [_parse_error(url, "net/url: invalid control character in URL")]
    parsed = _go_scheme(url)
    if parsed is None:
        return [_parse_error(url, "missing protocol scheme")]
    scheme, rest = parsed
    if not scheme and ":" in rest.split("/", 1)[0]:
        return [_parse_error(url, "first path segment in URL cannot contain colon")]
    found = []
    scheme = scheme.lower()  # Go's url.Parse lower-cases the scheme before helm-reval compares it
    if scheme not in ("https", "oci"):
        rule = rules.CHART_REF_HTTP_REFUSED if scheme == "http" else rules.CHART_REF_SCHEME_REFUSED
        shown = f"'{scheme}'" if scheme else "no scheme"
        found.append(UrlProblem(rule, "scheme", f"helm chart URL must use https or oci scheme, got {go_quote(scheme)}",
                                f"helmChart '{url}' uses {shown}; a chart URL must use https or oci"))
    try:
        split = urlsplit(url)
        host = split.hostname if rest.startswith("//") else None
        split.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        return [_parse_error(url, "invalid port after host")]
    if not host:
        found.append(UrlProblem(rules.CHART_REF_OTHER_FORM_REFUSED, "host", "helm chart URL must have a host",
                                f"helmChart '{url}' names no registry host"))
    return found


def parse_as_helm(url: str) -> ChartRef:
    """The chart reference Helm pulls for `url`; ChartUrlError with every problem when helm-reval refuses it."""
    text = url.strip()
    problems = url_problems(text)
    if problems:
        raise ChartUrlError("; ".join(p.ours for p in problems), part=problems[0].part, rule=problems[0].rule)
    parts = urlsplit(text)
    scheme = "oci" if parts.scheme.lower() == "oci" else "https"
    path = parts.path.lstrip("/")
    last = path.rsplit("/", 1)[-1]
    version = ""
    if scheme == "oci":
        # REPOSITORY[:TAG][@DIGEST]: only the last component can carry a tag or a digest.
        if "@" in last:
            last, version = last.split("@", 1)
        elif ":" in last:
            last, version = last.split(":", 1)
        path = path[: len(path) - len(path.rsplit("/", 1)[-1])] + last
    return ChartRef(url=text, scheme=scheme, registry=parts.netloc.lower(), repository=path, name=last,
                    version=version, exact=True)
