"""The HTTP layer still honours the proxies and the CA bundle the environment names, now read once per
client and origin instead of by `requests` on every call; a .netrc never adds credentials."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from connectors.http import HttpClient, HttpError, environment_transport

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")
PROXIED_HOST = "crm.proxied.test"  # never resolved: only the proxy is ever asked for it


class EchoServer:
    """Answers every request with what it received; as a proxy it sees the absolute request URL."""

    def __init__(self, name: str, tls: ssl.SSLContext | None = None) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.seen.append((self.path, dict(self.headers.items())))
                payload = json.dumps({"server": name, "path": self.path}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    for name in CA_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))


@pytest.fixture
def direct() -> Iterator[EchoServer]:
    srv = EchoServer("direct")
    yield srv
    srv.close()


@pytest.fixture
def proxy() -> Iterator[EchoServer]:
    srv = EchoServer("proxy")
    yield srv
    srv.close()


def _client(base_url: str, **kwargs: Any) -> HttpClient:
    options: dict[str, Any] = {
        "allowed_private_hosts": ["127.0.0.1", PROXIED_HOST],
        "max_retries": 0,
        "sleep": lambda seconds: None,
    }
    options.update(kwargs)
    return HttpClient(base_url, **options)


def test_http_proxy_from_the_environment_carries_the_request(
    monkeypatch: pytest.MonkeyPatch, proxy: EchoServer
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    with _client(f"http://{PROXIED_HOST}") as client:
        first = client.get("/contacts", params={"limit": 2})
        second = client.get("/contacts/7")

    assert first.data == {"server": "proxy", "path": f"http://{PROXIED_HOST}/contacts?limit=2"}
    assert second.data == {"server": "proxy", "path": f"http://{PROXIED_HOST}/contacts/7"}
    assert [path for path, _ in proxy.seen] == [
        f"http://{PROXIED_HOST}/contacts?limit=2",
        f"http://{PROXIED_HOST}/contacts/7",
    ]


def test_all_proxy_is_used_when_no_scheme_proxy_is_set(
    monkeypatch: pytest.MonkeyPatch, proxy: EchoServer
) -> None:
    monkeypatch.setenv("ALL_PROXY", proxy.url)
    with _client(f"http://{PROXIED_HOST}") as client:
        response = client.get("/ping")

    assert response.data == {"server": "proxy", "path": f"http://{PROXIED_HOST}/ping"}


def test_no_proxy_hosts_are_reached_directly(
    monkeypatch: pytest.MonkeyPatch, proxy: EchoServer, direct: EchoServer
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with _client(direct.url) as client:
        response = client.get("/contacts")

    assert response.data == {"server": "direct", "path": "/contacts"}
    assert proxy.seen == []


def test_environment_is_read_when_the_client_first_reaches_an_origin(
    monkeypatch: pytest.MonkeyPatch, proxy: EchoServer
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    with _client(f"http://{PROXIED_HOST}") as client:
        client.get("/a")
        # Later changes to the environment are not looked up on every call; a new client sees them.
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
        assert client.get("/b").data["server"] == "proxy"
    with _client(f"http://{PROXIED_HOST}", max_retries=0) as fresh, pytest.raises(HttpError) as caught:
        fresh.get("/c")

    assert caught.value.permanent is False
    assert len(proxy.seen) == 2


def test_a_netrc_never_adds_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, direct: EchoServer
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    with _client(direct.url) as client:
        client.get("/contacts")

    (_, headers), *_ = direct.seen
    assert "Authorization" not in headers


# -- the CA bundle ----------------------------------------------------------------------------------


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA for 127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "ca.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[EchoServer, Path]]:
    cert_path, key_path = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    srv = EchoServer("tls", tls=context)
    yield srv, cert_path
    srv.close()


def test_a_server_signed_by_an_unknown_ca_is_refused(tls_server: tuple[EchoServer, Path]) -> None:
    server, _ = tls_server
    with _client(server.url) as client, pytest.raises(HttpError) as caught:
        client.get("/contacts")

    assert caught.value.permanent is True
    assert "TLS error" in caught.value.message


@pytest.mark.parametrize("variable", CA_VARIABLES)
def test_ca_bundle_named_in_the_environment_is_trusted(
    monkeypatch: pytest.MonkeyPatch, tls_server: tuple[EchoServer, Path], variable: str
) -> None:
    server, cert_path = tls_server
    monkeypatch.setenv(variable, str(cert_path))
    with _client(server.url) as client:
        response = client.get("/contacts")

    assert response.data == {"server": "tls", "path": "/contacts"}
    assert environment_transport(server.url).verify == str(cert_path)


def test_a_ca_bundle_does_not_apply_to_plain_http_without_a_proxy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, direct: EchoServer
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "bundle.pem"))

    assert environment_transport(direct.url).verify is True
    assert environment_transport("https://crm.example.com/").verify == str(tmp_path / "bundle.pem")
    with _client(direct.url) as client:
        assert client.get("/contacts").data == {"server": "direct", "path": "/contacts"}
