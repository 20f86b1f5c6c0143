"""From a ``JobCreate`` body to task messages, and into ``services.jobs.submit``.

The body was validated against its task's schema already; a refused media URL
raises here, before anything is written, so no job or outbox row exists. ``enrich``
is planned by ``domain.enrich`` (shared with the CLI): media -> ``transcribe`` with
``then=[summarize, embed]``; text -> ``summarize`` and ``embed`` side by side. A single
submission, each batch item (:func:`submit_item`) and a reprocess all submit through
:func:`submit_planned`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.orm import Session

from bookmarkai_ml.api.problems import Problem, problem_of, validation_problem
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
from bookmarkai_ml.errors import BookmarkAIError, RetryableError, UnsafeURLError
from bookmarkai_ml.services import jobs

#: Schemes a media URL may use; the worker's SSRF guard then checks the address.
MEDIA_SCHEMES = frozenset({"http", "https", "s3"})
_MEDIA_URL = re.compile(MEDIA_URL_PATTERN)
#: Validates one batch item as FastAPI validates a single body (``Any``: mypy does not
#: take the Annotated union for a type).
JOB_CREATE: TypeAdapter[Any] = TypeAdapter(JobCreate)  # type: ignore[arg-type,unused-ignore]


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
    session: Session,
    body: JobCreate,
    *,
    tenant_id: str,
    traceparent: str | None,
    nonce: str | None = None,
) -> list[jobs.Submission]:
    """Plan ``body`` and submit every job in the caller's transaction (all or none).

    Raises:
        UnsafeURLError: the media URL's scheme is not allowed (nothing is written).
        DatabaseUnavailableError: the database is unreachable.
    """
    return submit_planned(
        session, plan(body, tenant_id=tenant_id), traceparent=traceparent, nonce=nonce
    )


def submit_planned(
    session: Session,
    planned: Sequence[Planned],
    *,
    traceparent: str | None,
    nonce: str | None = None,
) -> list[jobs.Submission]:
    """Submit planned jobs in the caller's transaction; ``nonce`` salts their keys (reprocess)."""
    return [
        jobs.submit(session, p.message, then=p.then, traceparent=traceparent, nonce=nonce)
        for p in planned
    ]


def submit_item(
    session: Session, raw: object, *, tenant_id: str, traceparent: str | None
) -> list[jobs.Submission] | Problem:
    """One item of a batch: validated and submitted exactly as a single body is.

    The item runs in a SAVEPOINT, so a refused item leaves the batch's transaction as
    it was; a refusal (schema or submission check) comes back as its problem.

    Raises:
        RetryableError: the database is unreachable (the whole batch fails, 503).
    """
    try:
        body: JobCreate = JOB_CREATE.validate_python(raw)
    except ValidationError as exc:
        return validation_problem(exc.errors(include_input=False))
    try:
        with session.begin_nested():
            return submit(session, body, tenant_id=tenant_id, traceparent=traceparent)
    except RetryableError:
        raise
    except BookmarkAIError as exc:
        return problem_of(exc)
