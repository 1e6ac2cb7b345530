"""summary.html: escaped, self-contained, failures first."""

from __future__ import annotations

import re

from report_fixtures import MakeContext, result

from conformance.report import html

EVIL = '<script>alert("x")</script><img src="https://evil.example/x.png" onerror=alert(1)>'


def _page(make_context: MakeContext, **kwargs) -> str:
    ctx = make_context([result("R-MUST", "FAIL", message=EVIL, case=EVIL, param="p<1>"),
                        result("R-SHOULD", "PASS", "SHOULD"),
                        result("R-EXT", "ERROR", "EXT", profiles=("ext",), message="boom & bust")], **kwargs)
    return html.render(ctx).decode()


def test_messages_are_escaped(make_context: MakeContext) -> None:
    page = _page(make_context)
    assert "<script" not in page.lower()
    assert "<img" not in page.lower()
    assert "&lt;script&gt;" in page
    assert "boom &amp; bust" in page


def test_no_external_resources(make_context: MakeContext) -> None:
    page = _page(make_context)
    # Any URL in an attribute or CSS would load or lead off the page; text mentions are escaped text.
    for attr in re.findall(r'(?:href|src|action)\s*=\s*"([^"]*)"', page):
        assert not re.match(r"^[a-z][a-z0-9+.-]*:", attr, re.I), attr
        assert not attr.startswith("//")
    assert "url(" not in page
    assert "@import" not in page
    assert "default-src 'none'" in page


def test_failures_come_first_with_banner(make_context: MakeContext) -> None:
    page = _page(make_context)
    assert page.index("R-MUST") < page.index("R-SHOULD")
    assert 'class="banner v-failure"' in page
    assert 'href="repro/' in page


def test_incomplete_banner(make_context: MakeContext) -> None:
    page = _page(make_context, interrupted=True)
    assert "Incomplete run." in page and "can never certify" in page
