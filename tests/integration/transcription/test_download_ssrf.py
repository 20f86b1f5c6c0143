"""The SSRF matrix and the body caps, against real loopback servers.

A canary server listens on 127.0.0.1 (and ::1); every refused URL points at it or
at a private address, and the canary must record no request at all. Where a test
needs a successful download it allows exactly one ``host:port``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from bookmarkai_ml.config import MediaSettings
from bookmarkai_ml.errors import MediaError, RetryableError, UnsafeURLError
from bookmarkai_ml.media.download import Downloader
from bookmarkai_ml.media.ssrf import is_public
from support.transcription import LoopbackServer, make_tls, reply, stream

pytestmark = pytest.mark.integration

MakeServer = Callable[..., LoopbackServer]


def fake_dns(table: dict[str, Sequence[str]]) -> Callable[[str, int], Sequence[str]]:
    """A resolver hook: names resolve to what the test says, nothing else resolves."""

    def resolve(host: str, port: int) -> Sequence[str]:
        if host not in table:
            raise OSError(f"NXDOMAIN {host}")
        return table[host]

    return resolve


def downloader(
    *, allowed: Sequence[str] = (), dns: dict[str, Sequence[str]] | None = None, **media: object
) -> Downloader:
    settings = MediaSettings(allowed_hosts=list(allowed), **media)  # type: ignore[arg-type]
    return Downloader(settings, resolver=fake_dns(dns or {}))


def refused_urls(canary: LoopbackServer, canary6: LoopbackServer) -> list[str]:
    p, p6 = canary.port, canary6.port
    return [
        f"http://127.0.0.1:{p}/",
        f"http://localhost:{p}/",
        f"http://[::1]:{p6}/",
        f"http://[::ffff:127.0.0.1]:{p}/",
        f"http://[::ffff:7f00:1]:{p}/",
        f"http://[64:ff9b::7f00:1]:{p}/",
        f"http://[2002:7f00:1::]:{p}/",
        f"http://0.0.0.0:{p}/",
        f"http://0:{p}/",
        f"http://2130706433:{p}/",
        f"http://0177.0.0.1:{p}/",
        f"http://0x7f.0.0.1:{p}/",
        f"http://127.1:{p}/",
        "http://10.0.0.1/",
        "http://172.16.5.4/",
        "http://172.31.255.255/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.100.100.200/",
        "http://[fd00:ec2::254]/",
        "http://[fe80::1]/",
        "http://224.0.0.1/",
        "http://private.test/",
        "http://mixed.test/",
        f"http://user:pw@example.com:{p}/",
        "file:///etc/passwd",
        f"gopher://127.0.0.1:{p}/_GET",
        f"ftp://127.0.0.1:{p}/",
        "/etc/passwd",
    ]


def test_the_ssrf_matrix_is_refused_before_connecting(servers: MakeServer, tmp_path: Path) -> None:
    canary, canary6 = servers(), servers("::1")
    dns = {
        "localhost": ["127.0.0.1"],
        "private.test": ["10.1.2.3"],
        "mixed.test": ["93.184.216.34", "127.0.0.1"],  # one bad record is enough
        "example.com": ["93.184.216.34"],
    }
    with downloader(dns=dns) as dl:
        for url in refused_urls(canary, canary6):
            with pytest.raises(UnsafeURLError):
                dl.fetch(url, tmp_path)
    assert canary.hits == []
    assert canary6.hits == []


def test_redirect_from_an_allowed_host_into_private_space_is_refused(
    servers: MakeServer, tmp_path: Path
) -> None:
    canary, allowed = servers(), servers()
    allowed.routes["/to-canary"] = reply(302, headers={"Location": canary.url("/secret")})
    allowed.routes["/to-metadata"] = reply(
        307, headers={"Location": "http://169.254.169.254/latest/"}
    )
    allowed.routes["/to-file"] = reply(301, headers={"Location": "file:///etc/passwd"})
    with downloader(allowed=[f"127.0.0.1:{allowed.port}"]) as dl:
        for path in ("/to-canary", "/to-metadata", "/to-file"):
            with pytest.raises(UnsafeURLError):
                dl.fetch(allowed.url(path), tmp_path)
    assert canary.hits == []
    assert allowed.hits == ["/to-canary", "/to-metadata", "/to-file"]


def test_an_allowed_name_connects_to_the_address_that_was_checked(
    servers: MakeServer, tmp_path: Path
) -> None:
    origin = servers()
    seen: list[str] = []

    def handle(req: object) -> None:
        seen.append(req.headers["Host"])  # type: ignore[attr-defined]
        reply(200, b"media-bytes", {"Content-Type": "audio/wav"})(req)  # type: ignore[arg-type]

    origin.routes["/a.wav"] = handle
    origin.routes["/hop"] = reply(302, headers={"Location": "/a.wav"})
    dns = {"media.test": ["127.0.0.1"]}
    with downloader(allowed=[f"media.test:{origin.port}"], dns=dns) as dl:
        got = dl.fetch(f"http://media.test:{origin.port}/hop", tmp_path)
    assert got.path.read_bytes() == b"media-bytes"
    assert got.content_type == "audio/wav"
    assert seen == [f"media.test:{origin.port}"]


def test_too_many_redirects_are_refused(servers: MakeServer, tmp_path: Path) -> None:
    origin = servers()
    origin.routes["/loop"] = reply(302, headers={"Location": "/loop"})
    with (
        downloader(allowed=[f"127.0.0.1:{origin.port}"], max_redirects=3) as dl,
        pytest.raises(UnsafeURLError, match="redirects"),
    ):
        dl.fetch(origin.url("/loop"), tmp_path)
    assert len(origin.hits) == 4


def test_declared_oversize_body_is_refused_without_reading(
    servers: MakeServer, tmp_path: Path
) -> None:
    origin = servers()
    origin.routes["/big"] = reply(200, b"x" * 300_000)
    with (
        downloader(allowed=[f"127.0.0.1:{origin.port}"], max_download_bytes=100_000) as dl,
        pytest.raises(MediaError) as exc,
    ):
        dl.fetch(origin.url("/big"), tmp_path)
    assert exc.value.code == "too_large"


def test_undeclared_oversize_body_is_cut_at_the_cap(servers: MakeServer, tmp_path: Path) -> None:
    origin = servers()
    origin.routes["/endless"] = stream(50_000_000, chunk=16384)
    with (
        downloader(allowed=[f"127.0.0.1:{origin.port}"], max_download_bytes=200_000) as dl,
        pytest.raises(MediaError) as exc,
    ):
        dl.fetch(origin.url("/endless"), tmp_path)
    assert exc.value.code == "too_large"
    assert (tmp_path / "source.media").stat().st_size <= 200_000


def test_slow_drip_is_cut_at_the_time_cap(servers: MakeServer, tmp_path: Path) -> None:
    origin = servers()
    origin.routes["/drip"] = stream(10_000, chunk=1, pause_s=0.05)
    started = time.monotonic()
    with (
        downloader(allowed=[f"127.0.0.1:{origin.port}"], download_timeout_s=1.0) as dl,
        pytest.raises(MediaError) as exc,
    ):
        dl.fetch(origin.url("/drip"), tmp_path)
    assert exc.value.code == "download_timeout"
    assert time.monotonic() - started < 5


def test_public_addresses_pass_the_guard() -> None:
    import ipaddress

    assert is_public(ipaddress.ip_address("93.184.216.34"))
    assert is_public(ipaddress.ip_address("2606:2800:220:1:248:1893:25c8:1946"))
    assert not is_public(ipaddress.ip_address("::ffff:10.0.0.1"))


def test_https_connects_to_the_checked_address_and_verifies_the_name(tmp_path: Path) -> None:
    server_ctx, client_ctx = make_tls(tmp_path, "media.test")
    origin = LoopbackServer(tls=server_ctx).start()
    origin.routes["/clip.mp3"] = reply(200, b"tls-bytes")
    try:
        dns = {"media.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]}
        allowed = [f"media.test:{origin.port}", f"other.test:{origin.port}"]
        settings = MediaSettings(allowed_hosts=allowed)
        with Downloader(settings, resolver=fake_dns(dns), verify=client_ctx) as dl:
            got = dl.fetch(f"https://media.test:{origin.port}/clip.mp3", tmp_path / "ok")
            assert got.path.read_bytes() == b"tls-bytes"
            # Same address, but the certificate is not for this name: refused.
            with pytest.raises(RetryableError, match=r"(?i)certificate"):
                dl.fetch(f"https://other.test:{origin.port}/clip.mp3", tmp_path / "bad")
    finally:
        origin.stop()
    assert origin.hits == ["/clip.mp3"]


def test_the_system_resolver_is_checked_too(servers: MakeServer, tmp_path: Path) -> None:
    canary = servers()
    with Downloader(MediaSettings()) as dl, pytest.raises(UnsafeURLError):
        dl.fetch(f"http://localhost:{canary.port}/", tmp_path)
    assert canary.hits == []
