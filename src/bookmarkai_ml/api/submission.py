"""From a ``JobCreate`` body to task messages, and into ``services.jobs.submit``.

The body was validated against its task's schema already; a refused media URL
raises here, before anything is written, so no job or outbox row exists. ``enrich``
is planned by ``domain.enrich`` (shared with the CLI): media -> ``transcribe`` with
``then=[summarize, embed]``; text -> ``summarize`` and ``embed`` side by side.
"""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from bookmarkai_ml.api.schemas.jobs import (
    MEDIA_URL_PATTERN,
    EmbedJob,
    JobCreate,
    MediaInput,
    SummarizeJob,
    TextInput,
    TranscribeJob,
)
from bookmarkai_ml.contracts import EmbedTask, SummarizeTask, TranscribeTask
from bookmarkai_ml.domain.enrich import Planned, plan_enrich
from bookmarkai_ml.errors import UnsafeURLError
from bookmarkai_ml.services import jobs

#: Schemes a media URL may use; the worker's SSRF guard then checks the address.
MEDIA_SCHEMES = frozenset({"http", "https", "s3"})
_MEDIA_URL = re.compile(MEDIA_URL_PATTERN)


def check_media_url(url: str) -> str:
    """``url`` stripped, if its scheme is allowed and its host is well formed.

    Raises:
        UnsafeURLError: another scheme (``file://``, ``ftp://``, ``gopher://``...), or a
            malformed or non-ASCII host (which could normalise into another one).
    """
    scheme = url.strip().partition(":")[0].lower()
    if scheme not in MEDIA_SCHEMES:
        raise UnsafeURLError(f"media_url scheme {scheme!r} is not allowed; use http, https or s3")
    if _MEDIA_URL.match(url) is None:
        raise UnsafeURLError("media_url is not a valid URL")
    return url.strip()


def plan(body: JobCreate, *, tenant_id: str) -> list[Planned]:
    """The jobs a submission creates.

    Raises:
        UnsafeURLError: the media URL's scheme is not allowed.
    """
    share = {"share_id": body.share_id, "tenant_id": tenant_id}
    if isinstance(body, SummarizeJob):
        return [Planned(SummarizeTask(**share, content=body.input.text, options=body.options))]
    if isinstance(body, EmbedJob):
        return [Planned(EmbedTask(**share, content=body.input.text, options=body.options))]
    if isinstance(body, TranscribeJob):
        url = check_media_url(body.input.media_url)
        return [Planned(TranscribeTask(**share, media_url=url, options=body.options))]
    opts, inp = body.options, body.input
    return plan_enrich(
        **share,
        media_url=check_media_url(inp.media_url) if isinstance(inp, MediaInput) else None,
        text=inp.text if isinstance(inp, TextInput) else None,
        summarize=opts.summarize,
        transcribe=opts.transcribe,
        embed=opts.embed,
    )


def submit(
    session: Session, body: JobCreate, *, tenant_id: str, traceparent: str | None
) -> list[jobs.Submission]:
    """Plan ``body`` and submit every job in the caller's transaction (all or none).

    Raises:
        UnsafeURLError: the media URL's scheme is not allowed (nothing is written).
        DatabaseUnavailableError: the database is unreachable.
    """
    return [
        jobs.submit(session, p.message, then=p.then, traceparent=traceparent)
        for p in plan(body, tenant_id=tenant_id)
    ]
