"""helmChart URL parsing: the documented form, and every refusal naming the part that is wrong."""

from __future__ import annotations

import pytest

from reference import rules
from reference.charts.errors import ChartUrlError
from reference.charts.url import parse_chart_url

VALID = [
    ("oci://nvcr.io/org/team/charts/inference-test-1.0.0.tgz", "nvcr.io", "org/team/charts/inference-test",
     "inference-test", "1.0.0"),
    ("oci://127.0.0.1:5000/run1/charts/mini-2.10.3.tgz", "127.0.0.1:5000", "run1/charts/mini", "mini", "2.10.3"),
    ("oci://reg.example/charts/a1-0.0.1.tgz", "reg.example", "charts/a1", "a1", "0.0.1"),
    # the name may itself hold dashes and digits: the split is on the last '-' before a digit
    ("oci://reg.example/r/charts/my-chart-2-1.2.3.tgz", "reg.example", "r/charts/my-chart-2", "my-chart-2", "1.2.3"),
    ("https://helm.example.com/org/charts/mini-1.0.0.tgz", "helm.example.com", "org/charts/mini", "mini", "1.0.0"),
    # The doc's own example (`inference-test-1.0.tgz`) and NVIDIA's sample (`0.1`) use X.Y.
    ("oci://r.io/t/charts/inference-test-1.0.tgz", "r.io", "t/charts/inference-test", "inference-test", "1.0"),
    # The page's warning: "v1 is ok but v1-test will cause issues".
    ("oci://r.io/t/charts/inference-test-v1.tgz", "r.io", "t/charts/inference-test", "inference-test", "v1"),
    ("oci://r.io/t/charts/mini-v2.1.0.tgz", "r.io", "t/charts/mini", "mini", "v2.1.0"),
]


@pytest.mark.parametrize(("url", "registry", "repository", "name", "version"), VALID)
def test_documented_form_parses(url: str, registry: str, repository: str, name: str, version: str) -> None:
    ref = parse_chart_url(url)
    assert (ref.registry, ref.repository, ref.name, ref.version) == (registry, repository, name, version)
    assert ref.oci_ref == f"oci://{registry}/{repository}"


REFUSED = [
    # url, part, rule, text the reason must contain
    ("oci://r.io/t/charts/mini-1.0.0-test.tgz", "version", rules.CHART_VERSION_DASH_REFUSED, "'1.0.0-test'"),
    ("oci://r.io/t/charts/mini-1.0.0-2.tgz", "version", rules.CHART_VERSION_DASH_REFUSED, "'1.0.0-2'"),
    ("oci://r.io/t/charts/my_chart-1.0.0.tgz", "name", rules.CHART_NAME_SYMBOLS_REFUSED, "underscore '_'"),
    ("oci://r.io/t/charts/my.chart-1.0.0.tgz", "name", rules.CHART_NAME_SYMBOLS_REFUSED, "'.'"),
    ("oci://r.io/t/charts/my%chart-1.0.0.tgz", "name", rules.CHART_NAME_SYMBOLS_REFUSED, "'%'"),
    ("oci://r.io/t/charts/Mini-1.0.0.tgz", "name", rules.CHART_NAME_SYMBOLS_REFUSED, "upper-case letter 'M'"),
    ("ftp://r.io/t/charts/mini-1.0.0.tgz", "scheme", rules.CHART_REF_SCHEME_REFUSED, "'ftp'"),
    ("file:///t/charts/mini-1.0.0.tgz", "scheme", rules.CHART_REF_SCHEME_REFUSED, "'file'"),
    ("r.io/t/charts/mini-1.0.0.tgz", "scheme", rules.CHART_REF_SCHEME_REFUSED, "no scheme"),
    ("http://r.io/t/charts/mini-1.0.0.tgz", "scheme", rules.CHART_REF_HTTP_REFUSED, "http://"),
    ("oci:///t/charts/mini-1.0.0.tgz", "host", rules.CHART_REF_OTHER_FORM_REFUSED, "no registry host"),
    ("oci://r.io/t/mini-1.0.0.tgz", "path", rules.CHART_REF_OTHER_FORM_REFUSED, "'/charts/'"),
    ("oci://r.io/t/charts/mini:1.0.0", "file", rules.CHART_REF_OTHER_FORM_REFUSED, "OCI tag"),
    ("oci://r.io/t/charts/mini-1.0.0", "file", rules.CHART_REF_OTHER_FORM_REFUSED, "NAME-X.Y.Z.tgz"),
    ("oci://r.io/t/charts/mini-1.01.tgz", "version", rules.CHART_REF_OTHER_FORM_REFUSED, "'1.01'"),
    ("oci://r.io/t/charts/mini.tgz", "file", rules.CHART_REF_OTHER_FORM_REFUSED, "no version"),
    ("oci://user:pw@r.io/t/charts/mini-1.0.0.tgz", "host", rules.CHART_REF_OTHER_FORM_REFUSED, "credentials"),
    ("", "url", rules.CHART_REF_OTHER_FORM_REFUSED, "empty"),
]


@pytest.mark.parametrize(("url", "part", "rule", "says"), REFUSED)
def test_refusals_name_the_part(url: str, part: str, rule: str, says: str) -> None:
    with pytest.raises(ChartUrlError) as info:
        parse_chart_url(url)
    assert (info.value.part, info.value.rule) == (part, rule)
    assert says in info.value.reason
    assert "\n" not in info.value.reason


@pytest.mark.parametrize(
    ("url", "rule", "name", "version"),
    [
        ("oci://r.io/t/charts/mini-1.0.0-test.tgz", rules.CHART_VERSION_DASH_REFUSED, "mini", "1.0.0-test"),
        ("oci://r.io/t/charts/my_chart-1.0.0.tgz", rules.CHART_NAME_SYMBOLS_REFUSED, "my_chart", "1.0.0"),
        ("oci://r.io/t/mini:1.0.0", rules.CHART_REF_OTHER_FORM_REFUSED, "mini", "1.0.0"),
        ("ftp://r.io/t/charts/mini-1.0.0.tgz", rules.CHART_REF_SCHEME_REFUSED, "mini", "1.0.0"),
        ("http://r.io/t/charts/mini-1.0.0.tgz", rules.CHART_REF_HTTP_REFUSED, "mini", "1.0.0"),
    ],
)
def test_violate_accepts_exactly_that_refusal(url: str, rule: str, name: str, version: str) -> None:
    ref = parse_chart_url(url, violate={rule})
    assert (ref.name, ref.version, ref.scheme) == (name, version, "oci")
    other = next(r for r in sorted(rules.ERROR_RULES) if r != rule)
    with pytest.raises(ChartUrlError):
        parse_chart_url(url, violate={other})


def test_the_version_mutant_refuses_what_the_page_calls_fine() -> None:
    with pytest.raises(ChartUrlError) as info:
        parse_chart_url("oci://r.io/t/charts/inference-test-v1.tgz", violate={rules.DOC_EXAMPLE_CHART_VERSIONS})
    assert (info.value.part, info.value.rule) == ("version", rules.DOC_EXAMPLE_CHART_VERSIONS)
    with pytest.raises(ChartUrlError, match="contains '-'"):
        parse_chart_url("oci://r.io/t/charts/inference-test-v1-test.tgz")  # "v1-test will cause issues"
