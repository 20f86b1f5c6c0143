"""The SSRF guard: which URLs and addresses a media download or a webhook may reach.

A URL is checked before any connection, and every redirect target again:
only ``http``/``https``; no credentials in the URL; a host that is a canonical IP
or a name; *every* address the name resolves to (A and AAAA) must be public. Then
the download connects to one of the checked addresses (``Target.address``), so a
DNS answer that changes between the check and the connect (rebinding) cannot
send it elsewhere. Refused: loopback, private, link-local (incl. 169.254.169.254
metadata), shared/CGNAT, multicast, unspecified, reserved and documentation
ranges, and those same addresses hidden in IPv4-mapped, 6to4, Teredo or NAT64
IPv6 forms, or written in decimal, octal or hex (docs/transcription.md,
"Media intake").

``allowed_hosts`` (``host`` or ``host:port``) exempts named hosts: for private
deployments and for tests that need a loopback server.

URLs are parsed with ``httpx.URL``, the parser the download itself uses: a check
made with one URL parser and a request made with another is a classic SSRF bypass.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from bookmarkai_ml.errors import UnsafeURLError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: host, port -> every address the host resolves to.
Resolver = Callable[[str, int], Sequence[str]]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
#: Cloud metadata endpoints that are not already link-local or private.
_METADATA = frozenset(
    {ipaddress.ip_address("100.100.100.200"), ipaddress.ip_address("fd00:ec2::254")}
)
#: Anything made only of digits, hex digits, dots and 'x' is an IP written some way.
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]*))*\.?$", re.IGNORECASE)


def system_resolver(host: str, port: int) -> list[str]:
    """All A/AAAA addresses of ``host`` from the system resolver."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def is_public(ip: IPAddress) -> bool:
    """True only for globally routable unicast addresses that hide no private one."""
    if ip in _METADATA or not ip.is_global or ip.is_multicast or ip.is_unspecified:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        return all(is_public(v4) for v4 in _embedded_ipv4(ip))
    return True


@dataclass(frozen=True, slots=True)
class Target:
    """A URL that passed the guard, and the checked address to connect to."""

    url: httpx.URL
    host: str
    port: int
    address: str

    @property
    def pinned_url(self) -> httpx.URL:
        """``url`` with the host replaced by the checked address."""
        return self.url.copy_with(host=self.address)

    @property
    def host_header(self) -> str:
        default = 443 if self.url.scheme == "https" else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


def _allowed(host: str, port: int, allowed_hosts: Sequence[str]) -> bool:
    entries = {h.lower().rstrip(".") for h in allowed_hosts}
    return host in entries or f"{host}:{port}" in entries or f"[{host}]:{port}" in entries


def check_url(
    url: str | httpx.URL,
    *,
    allowed_hosts: Sequence[str] = (),
    resolver: Resolver = system_resolver,
) -> Target:
    """Check ``url`` and resolve its host; return where to connect.

    Raises:
        UnsafeURLError: bad scheme, credentials, ambiguous numeric host, a name
            that does not resolve, or any resolved address that is not public.
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise UnsafeURLError(f"unparseable URL: {exc}") from exc
    if parsed.scheme not in ("http", "https"):
        raise UnsafeURLError(f"scheme {parsed.scheme or '(none)'!r} is not allowed")
    if parsed.userinfo:
        raise UnsafeURLError("credentials in URLs are not allowed")
    host = parsed.host.lower().rstrip(".")
    if not host:
        raise UnsafeURLError("URL has no host")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    literal: IPAddress | None
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
        if _NUMERIC_HOST.match(host):
            raise UnsafeURLError(f"non-canonical numeric host {host!r}") from None
    if _allowed(host, port, allowed_hosts):
        address = str(literal) if literal else resolve_one(host, port, resolver, check=False)
        return Target(parsed, host, port, address)
    if literal is not None:
        if not is_public(literal):
            raise UnsafeURLError(f"address {literal} is not public")
        return Target(parsed, host, port, str(literal))
    return Target(parsed, host, port, resolve_one(host, port, resolver, check=True))


def resolve_one(host: str, port: int, resolver: Resolver, *, check: bool) -> str:
    """Resolve ``host``; with ``check``, refuse if *any* address is not public."""
    try:
        answers = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolver(host, port)]
    except (OSError, UnicodeError, ValueError) as exc:
        raise UnsafeURLError(f"cannot resolve {host!r}: {exc}") from exc
    if not answers:
        raise UnsafeURLError(f"{host!r} has no addresses")
    if check:
        bad = [str(a) for a in answers if not is_public(a)]
        if bad:
            raise UnsafeURLError(f"{host!r} resolves to non-public address {', '.join(bad)}")
    return str(answers[0])
