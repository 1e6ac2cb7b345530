"""Chart references: the documented `oci://REGISTRY/REPOSITORY/charts/NAME-X.Y.Z.tgz` form and its violations."""

from __future__ import annotations

import pytest

from conformance.plugin import ChartRef, ChartSet, Expect, params_of, variants
from suites._helpers import case_kinds


def _replace_url(chart: ChartRef, url: str) -> ChartRef:
    return chart.with_helm_chart(url)


def _named(url: str, *words: str) -> list[str]:
    """Offender words for a chart reference: the URL, and the forms a backend prints it in (without the
    scheme, or as the registry path Helm asked for: NVIDIA's validator says `GET "http://R/v2/PATH/tags/list"`)."""
    bare = url.split("://", 1)[-1]
    path = bare.split("/", 1)[1] if "/" in bare else bare
    return [url, bare, path, *words]


@pytest.mark.rule("CHART-REF-DOCUMENTED-FORM")
@pytest.mark.case("minimal-http")
def test_documented_form_deploys(chart: ChartRef, expect: Expect) -> None:
    assert chart.helm_chart.startswith("oci://") and "/charts/" in chart.helm_chart
    expect.deployed(chart)


def _other_form(chart: ChartRef, how: str) -> str:
    base, file_name = chart.helm_chart.rsplit("/charts/", 1)
    return {
        "no-charts-segment": f"{base}/{file_name}",
        "no-tgz-file-name": f"{base}/charts/{chart.chart}",
        "oci-tag": f"{base}/charts/{chart.chart}:{chart.version}",
    }[how]


@pytest.mark.rule("CHART-REF-OTHER-FORM-REFUSED")
@pytest.mark.parametrize("param", params_of("CHART-REF-OTHER-FORM-REFUSED"))
def test_other_forms_refused(param: str, chart: ChartRef, expect: Expect) -> None:
    url = _other_form(chart, param)
    expect.refused(_replace_url(chart, url), offenders=_named(url, "helmChart", "chart reference", "chart url"))


def _scheme(chart: ChartRef, how: str) -> str:
    rest = chart.helm_chart.removeprefix("oci://")
    return {"ftp": f"ftp://{rest}", "file": f"file:///tmp/{chart.chart}-{chart.version}.tgz", "no-scheme": rest}[how]


@pytest.mark.rule("CHART-REF-SCHEME-REFUSED")
@pytest.mark.parametrize("param", params_of("CHART-REF-SCHEME-REFUSED"))
def test_other_schemes_refused(param: str, chart: ChartRef, expect: Expect) -> None:
    url = _scheme(chart, param)
    # NVIDIA's API says "Invalid registry URL", its validator "helm chart URL must use https or oci scheme".
    expect.refused(_replace_url(chart, url), offenders=_named(url, "helmChart", "scheme", "registry URL", "chart URL"))


@pytest.mark.rule("CHART-REF-HTTP-REFUSED")
@pytest.mark.case("minimal-http")
def test_plain_http_refused(chart: ChartRef, expect: Expect) -> None:
    url = "http://" + chart.helm_chart.removeprefix("oci://")
    expect.refused(_replace_url(chart, url), offenders=_named(url, "helmChart", "scheme", "https"))


@pytest.mark.rule("CHART-VERSION-DASH-REFUSED")
@pytest.mark.case("version-dashed")
def test_version_with_dash_refused(chart: ChartRef, expect: Expect) -> None:
    assert "-" in chart.version
    expect.refused(chart, offenders=[chart.version, "version"])


@pytest.mark.rule("CHART-NAME-SYMBOLS-REFUSED")
@pytest.mark.parametrize(("param", "case"), variants("CHART-NAME-SYMBOLS-REFUSED"))
def test_chart_name_symbols_refused(param: str, case: str, charts: ChartSet, expect: Expect) -> None:
    chart = charts[case]
    expect.refused(chart, offenders=[chart.chart, "chart name"])


@pytest.mark.rule("CHART-MISSING-REFUSED")
@pytest.mark.case("minimal-http")
def test_missing_chart_refused(chart: ChartRef, charts: ChartSet, expect: Expect) -> None:
    url = charts.url(chart.chart, "9.9.9")  # a version of the case that was never pushed
    expect.refused(_replace_url(chart, url), offenders=_named(url, "9.9.9", "not found", "helmChart"))


@pytest.mark.rule("RESTRICTIONS-CHECKED-AT-CREATION")
@pytest.mark.case("kind-forbidden-daemonset")
def test_restrictions_checked_at_creation(chart: ChartRef, expect: Expect) -> None:
    expect.refused(chart, offenders=case_kinds(chart.case))
