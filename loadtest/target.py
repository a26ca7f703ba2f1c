"""Where load goes. A load generator pointed at the wrong host is an attack, so only loopback targets are
allowed unless the operator names the host (`--allow-host` or LOADTEST_ALLOWED_HOSTS)."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import urlsplit

ALLOWED_HOSTS_ENV = "LOADTEST_ALLOWED_HOSTS"


class TargetRefused(ValueError):
    """The target is neither loopback nor an allowed host."""


@dataclass(frozen=True)
class Target:
    # The full URL requests are POSTed to, e.g. http://127.0.0.1:8080/layout-parsing.
    endpoint: str
    # Sent as `Authorization: token <TOKEN>`, as PaddleOCR's client does.
    token: str | None = None
    timeout_s: float = 600.0

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"token {self.token}"
        return headers


def allowed_hosts_from_env() -> set[str]:
    return {h.strip().lower() for h in os.environ.get(ALLOWED_HOSTS_ENV, "").split(",") if h.strip()}


def check_target(url: str, allowed_hosts: Collection[str]) -> None:
    """Raises TargetRefused unless `url`'s host is named in `allowed_hosts` or resolves only to loopback."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused(f"not an http(s) URL: {url}")
    host = parts.hostname.lower()
    if host in {h.lower() for h in allowed_hosts}:
        return
    try:
        infos = socket.getaddrinfo(host, parts.port or 80, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise TargetRefused(f"cannot resolve {host}: {exc}") from exc
    addresses = {ipaddress.ip_address(info[4][0]) for info in infos}
    if not all(address.is_loopback for address in addresses):
        raise TargetRefused(
            f"{host} is not a loopback address; name it with --allow-host {host} (or in {ALLOWED_HOSTS_ENV}) "
            "if it is yours to load"
        )
