"""One signed POST to a webhook endpoint, through the media SSRF guard.

Headers per the Standard Webhooks specification
(https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md):
``webhook-id`` (the event id, the same on every retry), ``webhook-timestamp`` (integer
seconds) and ``webhook-signature`` (``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body``,
made by the ``standardwebhooks`` package a receiver verifies with).

The URL is checked again at every attempt (``media.ssrf.check_url`` with the media
allow-list) and the request goes to the address that was checked, with the name in
``Host`` and TLS SNI, as the media download does: a DNS answer that changed since the
registration cannot send the event to a private address. Redirects are not followed
(a 3xx is a failed attempt), ``trust_env=False`` keeps an environment proxy out, and
the answer's body is never read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import httpx
from standardwebhooks import Webhook

from bookmarkai_ml.domain.webhook_policy import AttemptOutcome
from bookmarkai_ml.errors import UnsafeURLError
from bookmarkai_ml.media.ssrf import Resolver, check_url, system_resolver

USER_AGENT = "bookmarkai-ml-webhooks/1"


def signed_headers(*, secret: str, msg_id: str, body: str, now: datetime) -> dict[str, str]:
    """The three Standard Webhooks headers plus the content type."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, now, body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


class Sender:
    """Sends one delivery attempt; never raises for what the endpoint or network does."""

    def __init__(
        self,
        *,
        timeout_s: float,
        allowed_hosts: Sequence[str] = (),
        resolver: Resolver = system_resolver,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._timeout_s = timeout_s
        self._allowed_hosts = tuple(allowed_hosts)
        self._resolver = resolver
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            trust_env=False,
            transport=transport,
            # No pooled connections: one pinned to an IP and verified for host A must
            # never carry a request for host B that happens to share the address.
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, *, url: str, secret: str, msg_id: str, body: str) -> AttemptOutcome:
        """POST ``body`` to ``url``, signed; the outcome carries the status or the error."""
        started = datetime.now(UTC)
        clock = time.monotonic()

        def outcome(code: int | None = None, error: str | None = None) -> AttemptOutcome:
            ms = int((time.monotonic() - clock) * 1000)
            return AttemptOutcome(started, ms, code, None if error is None else error[:1000])

        try:
            target = await asyncio.to_thread(
                check_url, url, allowed_hosts=self._allowed_hosts, resolver=self._resolver
            )
        except UnsafeURLError as exc:
            return outcome(error=f"unsafe_url: {exc}")
        headers = signed_headers(secret=secret, msg_id=msg_id, body=body, now=datetime.now(UTC))
        headers["host"] = target.host_header
        try:
            async with asyncio.timeout(self._timeout_s):  # the whole attempt, not per read
                async with self._client.stream(
                    "POST",
                    target.pinned_url,
                    content=body.encode(),
                    headers=headers,
                    extensions={"sni_hostname": target.host},
                ) as response:
                    return outcome(response.status_code)
        except (TimeoutError, httpx.TimeoutException):
            return outcome(error=f"timeout: no answer within {self._timeout_s:g}s")
        except httpx.HTTPError as exc:
            return outcome(error=f"{type(exc).__name__}: {exc}")
