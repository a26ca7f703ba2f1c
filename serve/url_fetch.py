"""Fetch the request's ``file`` when it is an http(s) URL, without becoming an SSRF proxy.

:func:`fetch_url` downloads the body under a :class:`FetchPolicy`; every failure raises
:class:`layout.decode.InputError` (a 422) whose message starts "URL fetch failed: ..." or names the
refused limit. Upstream PaddleX (spec §4) follows redirects blindly, ignores the HTTP status, has no
size cap and a 300 s timeout; we deliberately differ:

* **Schemes**: only ``http`` and ``https``. ``is_url`` decides whether ``file`` is a URL at all.
* **Address vetting**: the host is resolved and the fetch is refused if *any* resolved address is
  not publicly routable: private, loopback, link-local (including the cloud metadata address
  169.254.169.254), multicast, reserved, unspecified, shared (CGNAT) space, ``fd00:ec2::254``, and
  IPv4 embedded in IPv6 (mapped ``::ffff:a.b.c.d``, 6to4, NAT64, Teredo). Refusing when *any*
  address is bad stops an attacker from mixing a public and a private record. Operators can allow
  private networks globally (``allow_private_networks``) or name hosts that are always allowed
  (``allowed_hosts``, e.g. an internal object store; tests use it for 127.0.0.1).
* **DNS rebinding**: the connection goes to the address that was vetted, not to a fresh lookup.
  We request ``scheme://<vetted-ip>:<port>/path`` with the original ``Host`` header and, for
  https, the original host name as TLS SNI (httpx's ``sni_hostname`` extension), so the server
  certificate is still verified against the host name. A rebinding resolver therefore cannot swap
  in a private address between check and connect.
* **Redirects**: followed manually, at most ``max_redirects``, and every hop is parsed, resolved
  and vetted again (a public URL redirecting to ``http://169.254.169.254/`` is refused).
* **Status**: any non-2xx final response is an error (upstream would try to decode an error page).
* **Size**: a declared ``Content-Length`` above ``max_bytes`` is refused before reading; otherwise
  the body is streamed and the fetch aborts as soon as it passes ``max_bytes``. The cap counts
  *decoded* bytes, so a gzip bomb is stopped too.
* **Time**: ``timeout_s`` bounds the whole fetch (DNS, every hop, the full body), so a server that
  trickles bytes cannot hold a request open indefinitely.
* **Environment**: proxy variables are ignored (``trust_env=False``): a proxy would connect to the
  host itself and defeat the address pinning. Cookies are not carried between hops.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
from dataclasses import dataclass

import certifi
import httpx

from layout.decode import InputError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

FETCH_FAILED = "URL fetch failed"
PRIVATE_REFUSED = "URL host resolves to a private address; refused"

_SCHEMES_AND_PORTS = {"http": 80, "https": 443}
_URL_PREFIXES = ("http://", "https://")
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Cloud instance-metadata endpoints (AWS/GCP/Azure IPv4, AWS IPv6); also covered by the general
# rules, listed so the intent survives any change to them.
_METADATA_ADDRESSES = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
_NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")
_IPV4_LOW_BITS = 0xFFFFFFFF


@dataclass(frozen=True)
class FetchPolicy:
    """Limits and trust settings for URL fetches; see the module docstring. Their values (and defaults) come
    from the service's configuration, `serve.config.UrlFetchConfig.policy()`."""

    max_bytes: int
    timeout_s: float
    max_redirects: int
    allow_private_networks: bool
    allowed_hosts: frozenset[str]  # host names or IP literals, always allowed
    # TLS verification: True = the default CA bundle; an SSLContext to trust a private CA.
    verify: ssl.SSLContext | bool = True

    def __post_init__(self) -> None:
        if self.max_bytes < 1 or self.timeout_s <= 0 or self.max_redirects < 0:
            raise ValueError("max_bytes and timeout_s must be positive, max_redirects non-negative")


@dataclass(frozen=True)
class FetchedFile:
    data: bytes
    name_hint: str  # last path segment of the final URL (percent-decoded), "" if none


@dataclass(frozen=True)
class _Target:
    """One hop's URL, split into what we resolve (``host``, ``port``) and what we send."""

    url: httpx.URL
    host: str  # ASCII (IDNA) host, IPv6 without brackets
    port: int

    @property
    def is_ip_literal(self) -> bool:
        return _parse_ip(self.host) is not None

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default_port = _SCHEMES_AND_PORTS[self.url.scheme]
        return host if self.port == default_port else f"{host}:{self.port}"


def is_url(text: str) -> bool:
    """Whether the request's ``file`` is an http(s) URL (anything else is treated as Base64)."""
    # Base64 never contains ':', so the prefix is unambiguous; only look at the head of a huge string.
    return text[:16].lstrip().lower().startswith(_URL_PREFIXES)


async def fetch_url(url: str, policy: FetchPolicy) -> FetchedFile:
    """Download ``url`` under ``policy``; raise :class:`InputError` on any failure or refusal."""
    try:
        async with asyncio.timeout(policy.timeout_s):
            return await _fetch_following_redirects(url.strip(), policy)
    except TimeoutError:
        raise InputError(f"{FETCH_FAILED}: timed out after {policy.timeout_s:g} s") from None


async def post_vetted(url: str, content: bytes, headers: dict[str, str], policy: FetchPolicy) -> int:
    """POSTs ``content`` to ``url`` with the same vetting and pinning as a fetch (webhooks: the caller names the
    target, so it must not reach into the cluster either); redirects are not followed. Returns the status code;
    raises :class:`InputError` on a refused or unreachable target."""
    target = _parse_target(url.strip())
    try:
        async with asyncio.timeout(policy.timeout_s):
            addresses = await _vetted_addresses(target, policy)
            async with httpx.AsyncClient(
                verify=_default_tls_context() if policy.verify is True else policy.verify, trust_env=False,
                follow_redirects=False, timeout=httpx.Timeout(policy.timeout_s),
            ) as client:
                response = await _send_pinned(client, target, addresses, "POST", content, headers)
                await response.aclose()
                return response.status_code
    except TimeoutError:
        raise InputError(f"{FETCH_FAILED}: timed out after {policy.timeout_s:g} s") from None


async def check_target(url: str, policy: FetchPolicy) -> None:
    """Raises :class:`InputError` unless ``url`` is an http(s) URL whose host resolves to addresses ``policy``
    allows, so a bad target is refused when it is given, not only when it is used (and vetted again)."""
    await _vetted_addresses(_parse_target(url.strip()), policy)


def is_forbidden_address(address: IPAddress) -> bool:
    """Whether ``address`` (or an IPv4 address embedded in it) is not publicly routable."""
    return any(_is_non_public(candidate) for candidate in _with_embedded_ipv4(address))


# --------------------------------------------------------------------------------------------------


async def _fetch_following_redirects(url: str, policy: FetchPolicy) -> FetchedFile:
    async with httpx.AsyncClient(
        verify=_default_tls_context() if policy.verify is True else policy.verify,
        trust_env=False,
        follow_redirects=False,
        timeout=httpx.Timeout(policy.timeout_s),
    ) as client:
        target = _parse_target(url)
        for _hop in range(policy.max_redirects + 1):
            addresses = await _vetted_addresses(target, policy)
            client.cookies.clear()  # cookie-less, like upstream
            response = await _send_pinned(client, target, addresses)
            try:
                location = response.headers.get("location") if response.status_code in _REDIRECT_STATUSES else None
                if location is None:
                    return await _accept(response, target, policy)
            finally:
                await response.aclose()
            target = _parse_target(_join(target.url, location))
    raise InputError(f"{FETCH_FAILED}: more than {policy.max_redirects} redirects")


@functools.cache
def _default_tls_context() -> ssl.SSLContext:
    # Loading the CA bundle takes milliseconds of blocking work; do it once, not on every fetch.
    return ssl.create_default_context(cafile=certifi.where())


def _parse_target(url: str | httpx.URL) -> _Target:
    try:
        parsed = httpx.URL(url)
        host = parsed.raw_host.decode("ascii")
    except (httpx.InvalidURL, UnicodeError, TypeError):
        raise InputError(f"{FETCH_FAILED}: malformed URL") from None
    if parsed.scheme not in _SCHEMES_AND_PORTS:
        raise InputError(f"{FETCH_FAILED}: only http and https URLs are supported")
    if not host:
        raise InputError(f"{FETCH_FAILED}: URL has no host")
    return _Target(url=parsed, host=host.lower(), port=parsed.port or _SCHEMES_AND_PORTS[parsed.scheme])


def _join(base: httpx.URL, location: str) -> httpx.URL:
    try:
        return base.join(location)
    except (httpx.InvalidURL, UnicodeError, TypeError):
        raise InputError(f"{FETCH_FAILED}: malformed redirect location") from None


async def _vetted_addresses(target: _Target, policy: FetchPolicy) -> list[IPAddress]:
    addresses = await _resolve(target.host, target.port)
    if policy.allow_private_networks or _is_allowed_host(target.host, policy.allowed_hosts):
        return addresses
    if any(is_forbidden_address(address) for address in addresses):
        raise InputError(PRIVATE_REFUSED)
    return addresses


def _is_allowed_host(host: str, allowed_hosts: frozenset[str]) -> bool:
    return host in {allowed.strip("[]").lower() for allowed in allowed_hosts}


async def _resolve(host: str, port: int) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):  # socket.gaierror is an OSError
        raise InputError(f"{FETCH_FAILED}: cannot resolve host {host}") from None
    addresses: list[IPAddress] = []
    for family, _type, _proto, _canonname, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            address = ipaddress.ip_address(sockaddr[0])
            if address not in addresses:
                addresses.append(address)
    if not addresses:
        raise InputError(f"{FETCH_FAILED}: cannot resolve host {host}")
    return addresses


def _parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _with_embedded_ipv4(address: IPAddress) -> list[IPAddress]:
    """The addresses a connection to ``address`` may really reach."""
    if isinstance(address, ipaddress.IPv4Address):
        return [address]
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]  # the socket talks IPv4 to exactly this address
    candidates: list[IPAddress] = [address]
    if address.sixtofour is not None:
        candidates.append(address.sixtofour)
    if address.teredo is not None:
        candidates.extend(address.teredo)
    if address in _NAT64_PREFIX:
        candidates.append(ipaddress.IPv4Address(int(address) & _IPV4_LOW_BITS))
    return candidates


def _is_non_public(address: IPAddress) -> bool:
    return (
        address in _METADATA_ADDRESSES
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global  # e.g. 100.64.0.0/10 shared address space
    )


async def _send_pinned(
    client: httpx.AsyncClient, target: _Target, addresses: list[IPAddress], method: str = "GET",
    content: bytes | None = None, headers: dict[str, str] | None = None,
) -> httpx.Response:
    """Sends the request to the first vetted address that accepts a connection."""
    # SNI must be a host name (never an IP literal); it is also what the certificate is checked against.
    extensions = {"sni_hostname": target.host} if target.url.scheme == "https" and not target.is_ip_literal else {}
    last_error: httpx.ConnectError | None = None
    for address in addresses:
        request = client.build_request(
            method,
            target.url.copy_with(host=str(address), port=target.port),
            headers={**(headers or {}), "Host": target.host_header},
            content=content,
            extensions=extensions,
        )
        try:
            return await client.send(request, stream=True)
        except httpx.ConnectError as exc:
            last_error = exc  # try the next address (e.g. IPv6 unreachable, IPv4 fine)
        except httpx.HTTPError as exc:
            raise _transport_error(exc) from None
    raise InputError(f"{FETCH_FAILED}: cannot connect to {target.host} ({last_error})")


def _transport_error(exc: httpx.HTTPError) -> InputError:
    if isinstance(exc, httpx.TimeoutException):
        return InputError(f"{FETCH_FAILED}: timed out")
    return InputError(f"{FETCH_FAILED}: {type(exc).__name__}: {exc}")


async def _accept(response: httpx.Response, target: _Target, policy: FetchPolicy) -> FetchedFile:
    if not 200 <= response.status_code < 300:
        raise InputError(f"{FETCH_FAILED}: HTTP {response.status_code}")
    data = await _read_capped(response, policy.max_bytes)
    return FetchedFile(data=data, name_hint=target.url.path.rsplit("/", 1)[-1])


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    too_big = InputError(f"File exceeds {max_bytes} bytes")
    declared = response.headers.get("content-length", "")
    # Without content coding the declared length is the body size, so refuse before reading.
    if declared.isdigit() and int(declared) > max_bytes and "content-encoding" not in response.headers:
        raise too_big
    chunks: list[bytes] = []
    received = 0
    try:
        async for chunk in response.aiter_bytes():  # decoded bytes: a gzip bomb is capped too
            received += len(chunk)
            if received > max_bytes:
                raise too_big
            chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise _transport_error(exc) from None
    return b"".join(chunks)
