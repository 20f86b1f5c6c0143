"""Fetch a media source to a local file, safely (docs/transcription.md, "Media intake").

Sources: an ``http(s)`` URL (through the SSRF guard in ``ssrf.py``, redirects
followed by hand and re-checked), an ``s3://bucket/key`` object (through the
storage port), or a local path where ``settings.media.allow_local_paths`` says so.

The body streams to disk under two caps: ``max_download_bytes`` (checked against
Content-Length up front *and* counted as bytes arrive, since a server may lie) and
``download_timeout_s`` of wall-clock time (checked per chunk; the socket read
timeout bounds a server that sends nothing). ``Accept-Encoding: identity`` keeps a
small compressed body from inflating past the cap. ``trust_env=False``: an
environment proxy would connect somewhere the guard did not check. For https the
connection goes to the checked IP while TLS SNI and certificate verification use
the host name (httpcore's ``sni_hostname``).
"""

from __future__ import annotations

import ssl
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from bookmarkai_ml.config import MediaSettings
from bookmarkai_ml.errors import InvalidInputError, MediaError, RetryableError, UnsafeURLError
from bookmarkai_ml.media.ssrf import Resolver, Target, check_url, system_resolver
from bookmarkai_ml.ports import Downloaded

if TYPE_CHECKING:
    from bookmarkai_ml.ports import MediaStore

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class Downloader:
    """``ports.MediaFetcher``: a media source to a local file; one per worker process."""

    def __init__(
        self,
        media: MediaSettings,
        *,
        store: MediaStore | None = None,
        resolver: Resolver = system_resolver,
        transport: httpx.BaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self._media = media
        self._store = store
        self._resolver = resolver
        timeout = media.download_timeout_s
        self._client = httpx.Client(
            timeout=httpx.Timeout(min(timeout, 30.0), connect=min(timeout, 10.0)),
            follow_redirects=False,
            trust_env=False,
            transport=transport,
            verify=verify,
            # No pooled connections: one pinned to an IP and verified for host A must
            # never carry a request for host B that happens to share the address.
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Downloader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fetch(self, source: str, dest_dir: Path) -> Downloaded:
        """Bring ``source`` to a file under ``dest_dir``.

        Raises:
            UnsafeURLError: the scheme, host, an address or a redirect is not allowed.
            MediaError: ``too_large`` or ``download_timeout``.
            InvalidInputError: ``download_failed`` (the server answered 4xx).
            RetryableError: ``download_unavailable`` (5xx or a network failure).
        """
        dest_dir.mkdir(parents=True, exist_ok=True)
        # Schemes are case-insensitive (RFC 3986 §3.1): HTTP://, Https:// and s3:// alike.
        scheme = source.split("://", 1)[0].lower() if "://" in source else ""
        if scheme == "s3":
            if self._store is None:
                raise InvalidInputError("s3:// sources need S3 storage configured")
            path = self._store.fetch(source, dest_dir / "source.media")
            return Downloaded(path, path.stat().st_size, source)
        if scheme in ("http", "https"):
            return self._download(source, dest_dir / "source.media")
        if not scheme and source.startswith("/") and self._media.allow_local_paths:
            path = Path(source)
            if not path.is_file():
                raise InvalidInputError(f"no such file: {source}", code="not_found")
            return Downloaded(path, path.stat().st_size, source)
        raise UnsafeURLError(f"media source {scheme or 'a local path'!r} is not allowed")

    def _download(self, url: str, dest: Path) -> Downloaded:
        deadline = time.monotonic() + self._media.download_timeout_s
        target = self._check(url)
        for _ in range(self._media.max_redirects + 1):
            location, content_type = self._get(target, dest, deadline)
            if location is None:
                return Downloaded(dest, dest.stat().st_size, url, content_type)
            target = self._check(target.url.join(location))
        raise UnsafeURLError(f"more than {self._media.max_redirects} redirects")

    def _check(self, url: str | httpx.URL) -> Target:
        return check_url(url, allowed_hosts=self._media.allowed_hosts, resolver=self._resolver)

    def _get(self, target: Target, dest: Path, deadline: float) -> tuple[str | None, str | None]:
        """One hop: stream the body to ``dest`` (-> content type) or return a redirect."""
        headers = {"Host": target.host_header, "Accept-Encoding": "identity"}
        extensions = {"sni_hostname": target.host}
        cap = self._media.max_download_bytes
        try:
            with self._client.stream(
                "GET", target.pinned_url, headers=headers, extensions=extensions
            ) as response:
                if response.status_code in _REDIRECTS and "location" in response.headers:
                    return response.headers["location"], None
                _raise_for_status(response, target)
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > cap:
                    raise MediaError(f"media is {declared} bytes, over {cap}", code="too_large")
                received = 0
                with dest.open("wb") as out:
                    for chunk in response.iter_raw():  # no chunk_size: it would buffer
                        received += len(chunk)
                        if received > cap:
                            raise MediaError(f"media is over {cap} bytes", code="too_large")
                        if time.monotonic() > deadline:
                            raise _timeout(self._media.download_timeout_s)
                        out.write(chunk)
        except httpx.TimeoutException as exc:
            raise _timeout(self._media.download_timeout_s) from exc
        except httpx.HTTPError as exc:
            raise RetryableError(
                f"download from {target.host} failed: {exc}", code="download_unavailable"
            ) from exc
        return None, response.headers.get("content-type")


def _timeout(limit_s: float) -> MediaError:
    return MediaError(f"download took longer than {limit_s:g}s", code="download_timeout")


def _raise_for_status(response: httpx.Response, target: Target) -> None:
    status = response.status_code
    if status >= 500 or status in (408, 429):
        raise RetryableError(f"{target.host} answered {status}", code="download_unavailable")
    if status >= 300:
        raise InvalidInputError(f"{target.host} answered {status}", code="download_failed")
