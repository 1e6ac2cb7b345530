"""Fetching charts from a real authenticated OCI registry, and from an https server, with typed errors."""

from __future__ import annotations

import base64
import http.server
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rc_chartkit import PushChart, package, write_chart

from conformance.env.registry import RegistryEndpoint
from reference import rules
from reference.charts.credentials import RegistryAuth
from reference.charts.errors import ChartNotFoundError, FetchError, RegistryAuthError, RegistryUnreachableError
from reference.charts.extract import extract_chart
from reference.charts.fetch import FetchOptions, fetch_chart
from reference.charts.url import parse_chart_url


@pytest.fixture(scope="module")
def pushed(push_chart: PushChart) -> str:
    return push_chart(name="fetchme", version="1.2.3")


def test_a_pushed_chart_pulls_with_credentials(pushed: str, registry_auth: RegistryAuth, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    argv: list[list[str]] = []
    real_popen = subprocess.Popen

    def spy(args: list[str], **kwargs: Any) -> Any:
        # helm runs behind a /bin/sh gate that holds it until its limits are set: its argv follows the script.
        argv.append(list(args[3:]) if args[:2] == ["/bin/sh", "-c"] else list(args))
        return real_popen(args, **kwargs)

    monkeypatch.setattr("reference.charts.helm.subprocess.Popen", spy)
    archive = fetch_chart(parse_chart_url(pushed), registry_auth, tmp_path / "fetch")
    chart = extract_chart(archive, tmp_path / "chart")
    assert (chart / "Chart.yaml").is_file() and chart.name == "fetchme"
    assert [a[1:3] for a in argv] == [["registry", "login"], ["pull", pushed.removesuffix("-1.2.3.tgz")]]
    assert all(registry_auth.password not in " ".join(a) for a in argv)
    # the private helm home (with its login) is gone: nothing under the work folder holds the password
    leftovers = [p for p in (tmp_path / "fetch").rglob("*") if p.is_file()]
    assert leftovers == [archive]


def test_wrong_password_is_an_auth_error(pushed: str, registry: RegistryEndpoint, tmp_path: Path) -> None:
    wrong = RegistryAuth(registry.address, registry.username, "not-the-password")
    with pytest.raises(RegistryAuthError) as info:
        fetch_chart(parse_chart_url(pushed), wrong, tmp_path)
    assert registry.address in info.value.reason and "not-the-password" not in info.value.reason


def test_no_credentials_for_a_private_registry_is_an_auth_error(pushed: str, tmp_path: Path) -> None:
    other = RegistryAuth("elsewhere.example:5000", "u", "p")  # configured, but for another registry
    with pytest.raises(RegistryAuthError, match="none are configured"):
        fetch_chart(parse_chart_url(pushed), [other], tmp_path)


@pytest.mark.parametrize("change", [("1.2.3.tgz", "9.9.9.tgz"), ("fetchme-", "absent-")])
def test_a_missing_chart_is_not_found(pushed: str, registry_auth: RegistryAuth, tmp_path: Path,
                                      change: tuple[str, str]) -> None:
    url = pushed.replace(*change)
    with pytest.raises(ChartNotFoundError) as info:
        fetch_chart(parse_chart_url(url), registry_auth, tmp_path)
    assert info.value.rule == rules.CHART_MISSING_REFUSED
    ref = parse_chart_url(url)
    assert ref.name in info.value.reason and ref.version in info.value.reason


def test_an_unreachable_registry_fails_fast(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    auth = RegistryAuth(f"127.0.0.1:{port}", "u", "p")
    started = time.monotonic()
    with pytest.raises(RegistryUnreachableError) as info:
        fetch_chart(parse_chart_url(f"oci://127.0.0.1:{port}/t/charts/mini-1.0.0.tgz"), auth, tmp_path,
                    FetchOptions(timeout=10))
    assert time.monotonic() - started < 10
    assert f"127.0.0.1:{port}" in info.value.reason and "cannot be reached" in info.value.reason


# ── https downloads ───────────────────────────────────────────────────────────────────────────


class _Handler(http.server.BaseHTTPRequestHandler):
    archive = b""
    token = ""

    def do_GET(self) -> None:
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1/anything.tgz")
            self.end_headers()
            return
        if self.headers.get("Authorization") != f"Basic {self.token}":
            self.send_response(401)
            self.end_headers()
            return
        if self.path != "/org/charts/mini-1.0.0.tgz":
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.archive)))
        self.end_headers()
        self.wfile.write(self.archive)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def https_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    home = tmp_path_factory.mktemp("https")
    cert, key = home / "cert.pem", home / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    _Handler.archive = package(write_chart(home / "src"), home / "dist").read_bytes()
    _Handler.token = base64.b64encode(b"user:secret").decode()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", cert
    finally:
        server.shutdown()
        server.server_close()


def test_https_download(https_server: tuple[str, Path], tmp_path: Path) -> None:
    address, cert = https_server
    options = FetchOptions(ca_file=cert, timeout=10)
    ref = parse_chart_url(f"https://{address}/org/charts/mini-1.0.0.tgz")
    good = RegistryAuth(address, "user", "secret")
    archive = fetch_chart(ref, good, tmp_path / "ok", options)
    assert (extract_chart(archive, tmp_path / "chart") / "Chart.yaml").is_file()

    with pytest.raises(RegistryAuthError):
        fetch_chart(ref, RegistryAuth(address, "user", "wrong"), tmp_path / "bad", options)
    with pytest.raises(ChartNotFoundError):
        fetch_chart(parse_chart_url(f"https://{address}/org/charts/mini-2.0.0.tgz"), good, tmp_path / "nf", options)
    with pytest.raises(RegistryUnreachableError):  # the server's certificate is not trusted without the CA
        fetch_chart(ref, good, tmp_path / "tls", FetchOptions(timeout=10))


def test_https_redirect_to_plain_http_is_refused(https_server: tuple[str, Path], tmp_path: Path) -> None:
    address, cert = https_server
    ref = parse_chart_url(f"https://{address}/org/charts/mini-1.0.0.tgz")
    redirecting = type(ref)(url=f"https://{address}/redirect", scheme="https", registry=ref.registry,
                            repository=ref.repository, name=ref.name, version=ref.version)
    with pytest.raises(FetchError, match="non-https"):
        fetch_chart(redirecting, None, tmp_path, FetchOptions(ca_file=cert, timeout=10))
