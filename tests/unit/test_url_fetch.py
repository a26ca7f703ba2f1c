"""Tests for serve.url_fetch against a local HTTP(S) server running in a thread."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from layout.decode import InputError
from serve.config import InputConfig, UrlFetchConfig
from serve.url_fetch import FetchedFile, FetchPolicy, fetch_url, is_forbidden_address, is_url

LOCAL = "127.0.0.1"
TEST_HOST = "files.example.test"  # resolved to 127.0.0.1 only through the patched resolver
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
TRICKLE_SECONDS = 3.0


class Handler(BaseHTTPRequestHandler):
    """Routes keyed by path; each writes a complete HTTP/1.0 response (the body ends at close)."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - keep test output quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        route = ROUTES.get(self.path.split("?", 1)[0])
        if route is None:
            self._reply(404, b"not found")
        else:
            route(self)

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _redirect(location: str | Callable[[Handler], str]) -> Callable[[Handler], None]:
    def route(handler: Handler) -> None:
        target = location(handler) if callable(location) else location
        handler._reply(302, headers={"Location": target})

    return route


def _stream_without_length(handler: Handler) -> None:
    handler.send_response(200)
    handler.end_headers()
    for _ in range(10):
        handler.wfile.write(b"x" * 1000)


def _trickle(handler: Handler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Length", "1000")
    handler.end_headers()
    deadline = time.monotonic() + TRICKLE_SECONDS
    try:
        while time.monotonic() < deadline:  # keeps bytes flowing, so per-read timeouts never fire
            handler.wfile.write(b"x")
            handler.wfile.flush()
            time.sleep(0.05)
    except OSError:
        pass  # the client gave up, as it should


ROUTES: dict[str, Callable[[Handler], None]] = {
    "/files/doc.png": lambda h: h._reply(200, PNG_BYTES, {"Content-Type": "image/png; charset=binary"}),
    "/echo-host": lambda h: h._reply(200, h.headers["Host"].encode()),
    "/relative-redirect": _redirect("/files/doc.png"),
    "/redirect-to-localhost": _redirect(lambda h: f"http://localhost:{h.server.server_address[1]}/files/doc.png"),
    "/redirect-to-metadata": _redirect("http://169.254.169.254/latest/meta-data/"),
    "/loop": _redirect("/loop"),
    "/declared-big": lambda h: h._reply(200, b"y" * 5000),
    "/streamed-big": _stream_without_length,
    "/gzip-bomb": lambda h: h._reply(200, gzip.compress(b"\x00" * 1_000_000), {"Content-Encoding": "gzip"}),
    "/slow": _trickle,
    "/server-error": lambda h: h._reply(500, b"oops"),
}


def _serve(server: ThreadingHTTPServer) -> Iterator[ThreadingHTTPServer]:
    server.daemon_threads = True  # a handler still trickling must not block teardown
    # A short poll interval keeps shutdown() (which waits for the next poll) from slowing every test.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def http_port() -> Iterator[int]:
    for server in _serve(ThreadingHTTPServer((LOCAL, 0), Handler)):
        yield server.server_address[1]


def policy(**overrides: object) -> FetchPolicy:
    """The service's default policy, loopback allowed (the test servers), a short timeout, and `overrides`."""
    configured = UrlFetchConfig(allowed_hosts=[LOCAL], timeout_s=5.0).policy(InputConfig().max_file_bytes)
    return replace(configured, **overrides)  # type: ignore[arg-type]


def fetch(url: str, fetch_policy: FetchPolicy | None = None) -> FetchedFile:
    return asyncio.run(fetch_url(url, fetch_policy or policy()))


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Resolve the host names put in the returned dict to the given addresses; others as usual."""
    table: dict[str, str] = {}
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: object, port: object, *args: object, **kwargs: object) -> list[tuple]:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name in table:
            address = table[name]
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sockaddr = (address, int(port))  # type: ignore[call-overload]
            return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr)]
        if name.endswith(".test"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_getaddrinfo(host, port, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


# --------------------------------------------------------------------------------------------------
# is_url and address policy


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://example.com/a.pdf", True),
        ("HTTPS://example.com/a.png", True),
        ("  https://example.com/", True),
        ("file:///etc/passwd", False),
        ("ftp://example.com/a.pdf", False),
        ("iVBORw0KGgoAAAANSUhEUg==", False),
        ("", False),
    ],
)
def test_is_url_recognises_only_http_and_https(text: str, expected: bool) -> None:
    assert is_url(text) is expected


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",
        "169.254.169.254",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "::",
        "fe80::1",
        "fd00:ec2::254",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "2002:a00:1::",  # 6to4 wrapping 10.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 wrapping 169.254.169.254
    ],
)
def test_non_public_addresses_are_forbidden(address: str) -> None:
    assert is_forbidden_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert not is_forbidden_address(ipaddress.ip_address(address))


# --------------------------------------------------------------------------------------------------
# Fetching


def test_fetch_returns_body_name_hint_and_media_type(http_port: int) -> None:
    fetched = fetch(f"http://{LOCAL}:{http_port}/files/doc.png?version=2")
    assert fetched == FetchedFile(data=PNG_BYTES, name_hint="doc.png")


def test_fetch_follows_relative_redirect_and_names_the_final_file(http_port: int) -> None:
    fetched = fetch(f"http://{LOCAL}:{http_port}/relative-redirect")
    assert fetched.data == PNG_BYTES and fetched.name_hint == "doc.png"


def test_loopback_is_refused_by_default(http_port: int) -> None:
    with pytest.raises(InputError, match="^URL host resolves to a private address; refused$"):
        fetch(f"http://{LOCAL}:{http_port}/files/doc.png", policy(allowed_hosts=frozenset()))


def test_allow_private_networks_permits_loopback(http_port: int) -> None:
    fetched = fetch(f"http://{LOCAL}:{http_port}/files/doc.png", policy(allowed_hosts=frozenset(), allow_private_networks=True))
    assert fetched.data == PNG_BYTES


def test_redirect_to_a_loopback_name_is_refused(http_port: int) -> None:
    # 127.0.0.1 is allowed, but "localhost" is a different, unlisted host: every hop is re-vetted.
    with pytest.raises(InputError, match="private address; refused"):
        fetch(f"http://{LOCAL}:{http_port}/redirect-to-localhost")


def test_redirect_to_cloud_metadata_is_refused(http_port: int) -> None:
    with pytest.raises(InputError, match="private address; refused"):
        fetch(f"http://{LOCAL}:{http_port}/redirect-to-metadata")


def test_redirects_beyond_the_limit_fail(http_port: int) -> None:
    with pytest.raises(InputError, match="^URL fetch failed: more than 3 redirects$"):
        fetch(f"http://{LOCAL}:{http_port}/loop", policy(max_redirects=3))
    with pytest.raises(InputError, match="more than 0 redirects"):
        fetch(f"http://{LOCAL}:{http_port}/relative-redirect", policy(max_redirects=0))


@pytest.mark.parametrize("path", ["/declared-big", "/streamed-big", "/gzip-bomb"])
def test_body_over_the_size_cap_is_refused(http_port: int, path: str) -> None:
    with pytest.raises(InputError, match="^File exceeds 4096 bytes$"):
        fetch(f"http://{LOCAL}:{http_port}{path}", policy(max_bytes=4096))


def test_timeout_covers_the_whole_fetch_even_while_bytes_trickle_in(http_port: int) -> None:
    started = time.monotonic()
    with pytest.raises(InputError, match="^URL fetch failed: timed out"):
        fetch(f"http://{LOCAL}:{http_port}/slow", policy(timeout_s=0.4))
    assert time.monotonic() - started < 1.5 < TRICKLE_SECONDS


@pytest.mark.parametrize(("path", "status"), [("/missing.pdf", 404), ("/server-error", 500)])
def test_non_2xx_status_is_an_error(http_port: int, path: str, status: int) -> None:
    with pytest.raises(InputError, match=f"^URL fetch failed: HTTP {status}$"):
        fetch(f"http://{LOCAL}:{http_port}{path}")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/a.pdf", "gopher://x/"])
def test_non_http_schemes_are_refused(url: str) -> None:
    with pytest.raises(InputError, match="^URL fetch failed: only http and https"):
        fetch(url)


def test_connection_refused_is_an_input_error() -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind((LOCAL, 0))
        port = probe.getsockname()[1]
    with pytest.raises(InputError, match="^URL fetch failed: cannot connect"):
        fetch(f"http://{LOCAL}:{port}/doc.pdf")


def test_unresolvable_host_is_an_input_error(fake_dns: dict[str, str]) -> None:
    with pytest.raises(InputError, match="^URL fetch failed: cannot resolve host nowhere.test$"):
        fetch("http://nowhere.test/doc.pdf")


def test_host_name_resolving_to_a_private_address_is_refused(fake_dns: dict[str, str]) -> None:
    fake_dns["intranet.test"] = "10.0.0.7"
    with pytest.raises(InputError, match="private address; refused"):
        fetch("http://intranet.test/doc.pdf")


def test_connection_is_pinned_to_the_vetted_address_with_the_original_host_header(
    http_port: int, fake_dns: dict[str, str]
) -> None:
    fake_dns[TEST_HOST] = LOCAL
    fetched = fetch(f"http://{TEST_HOST}:{http_port}/echo-host", policy(allowed_hosts=frozenset({TEST_HOST})))
    assert fetched.data.decode() == f"{TEST_HOST}:{http_port}"


# --------------------------------------------------------------------------------------------------
# HTTPS: the pinned connection still verifies the certificate against the host name


def _self_signed(tmp_path: Path, host: str) -> tuple[Path, Path]:
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[int, ssl.SSLContext]]:
    cert_path, key_path = _self_signed(tmp_path, TEST_HOST)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_path, key_path)
    server = ThreadingHTTPServer((LOCAL, 0), Handler)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    client_context = ssl.create_default_context(cafile=str(cert_path))
    for running in _serve(server):
        yield running.server_address[1], client_context


def test_https_pinned_fetch_verifies_certificate_for_the_host_name(
    https_server: tuple[int, ssl.SSLContext], fake_dns: dict[str, str]
) -> None:
    port, trust = https_server
    fake_dns[TEST_HOST] = LOCAL
    trusted_policy = policy(allowed_hosts=frozenset({TEST_HOST}), verify=trust)
    fetched = fetch(f"https://{TEST_HOST}:{port}/files/doc.png", trusted_policy)
    assert fetched.data == PNG_BYTES


def test_https_certificate_for_another_host_is_rejected(
    https_server: tuple[int, ssl.SSLContext], fake_dns: dict[str, str]
) -> None:
    port, trust = https_server
    fake_dns["other.test"] = LOCAL
    with pytest.raises(InputError, match="^URL fetch failed: cannot connect"):
        fetch(f"https://other.test:{port}/files/doc.png", policy(allowed_hosts=frozenset({"other.test"}), verify=trust))
