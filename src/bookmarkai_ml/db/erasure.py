"""Erase one share's data in the caller's transaction, and leave its tombstone.

What :func:`erase` does, in order (docs/api.md, "Erasure and retention"):

1. takes a transaction-scoped advisory lock per share, so two erasures of one share
   queue up, and locks the share's job rows;
2. cancels every unfinished job through the job repository (``db.jobs.cancel``), so
   each gets its completion event as any cancel does, and a running worker's finish is
   refused (the job is no longer ``running``; ``db/jobs/runs.py``);
3. deletes the share's results and embeddings (an embed run holding its job row lock
   finishes first, then its vectors are deleted here; one that comes later finds its
   job cancelled and writes nothing, ``db/embeddings.replace_share``);
4. drops the share's unsent task messages (their jobs are cancelled) and blanks the
   rest of its outbox rows (sent task messages, completion events), its webhook
   deliveries and attempts, its dead letters, and its jobs' payloads and error messages,
   keeping the rows' shape (``domain.redaction``); each job's idempotency key becomes
   ``erased:<job id>``, so the same input submitted again is a new job, not a duplicate;
5. keeps the cost rows (no content) and writes the tombstone with the counts.

Media objects are not touched here: the caller deletes them after the commit
(``services/erasure.py``) from :attr:`Erased.job_ids` and :attr:`Erased.media_uris`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.orm import Session

from bookmarkai_ml.db import jobs
from bookmarkai_ml.db.models import JobStatus
from bookmarkai_ml.domain.redaction import ERASED, KEEP, blank, blank_error

#: A task payload (``ml_jobs.payload``, a task row's ``ml_outbox.kwargs``) with its
#: top-level content blanked, the keys of ``domain.redaction.KEEP`` kept, and
#: ``redacted`` saying why; ``:keep`` and ``:why`` are parameters. Also used by retention.
BLANK_PAYLOAD = """(
    SELECT coalesce(jsonb_object_agg(k, CASE
        WHEN k = ANY(CAST(:keep AS text[])) THEN v
        WHEN jsonb_typeof(v) = 'string' THEN to_jsonb(''::text)
        WHEN jsonb_typeof(v) = 'array' THEN '[]'::jsonb
        WHEN jsonb_typeof(v) = 'object' THEN '{}'::jsonb
        ELSE v END), '{}'::jsonb)
    FROM jsonb_each({column}) AS p(k, v)
) || jsonb_build_object('redacted', CAST(:why AS text))"""

_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))")
_JOBS = text(
    "SELECT id, status, payload FROM ml_jobs WHERE tenant_id = :t AND share_id = :s "
    "ORDER BY created_at, id FOR UPDATE"
)
_RESULTS = text("DELETE FROM ml_results WHERE job_id = ANY(:ids)")
_EMBEDDINGS = text("DELETE FROM ml_embeddings WHERE tenant_id = :t AND share_id = :s")
# Outbox rows of the share: its jobs' rows, and job-less task rows (a replayed dead
# letter without a job) whose kwargs name the share.
_OUTBOX_OF_SHARE = """
    (job_id = ANY(:ids) OR (job_id IS NULL AND kwargs->>'share_id' = :s
        AND coalesce(kwargs->>'tenant_id', 'default') = :t))
"""
_DROP_UNSENT = text(
    f"DELETE FROM ml_outbox WHERE sent_at IS NULL AND kind = 'task' AND {_OUTBOX_OF_SHARE}"
)
_OUTBOX = text(f"SELECT id, kwargs, headers FROM ml_outbox WHERE {_OUTBOX_OF_SHARE} FOR UPDATE")
_OUTBOX_SET = text(
    "UPDATE ml_outbox SET kwargs = CAST(:kwargs AS jsonb), headers = CAST(:headers AS jsonb), "
    "last_error = NULL WHERE id = :id"
)
_BLANK_JOBS = text(
    "UPDATE ml_jobs SET payload = "
    + BLANK_PAYLOAD.replace("{column}", "payload")
    + ", idempotency_key = 'erased:' || id::text, error_message = NULL, updated_at = now() "
    "WHERE id = ANY(:ids)"
)
_DELIVERIES = text(
    "SELECT id, body FROM ml_webhook_deliveries WHERE tenant_id = :t AND share_id = :s FOR UPDATE"
)
_DELIVERY_SET = text(
    "UPDATE ml_webhook_deliveries SET body = CAST(:body AS jsonb), last_error = NULL WHERE id = :id"
)
_ATTEMPTS = text("UPDATE ml_webhook_attempts SET error = NULL WHERE delivery_id = ANY(:ids)")
# Dead letters of the share's jobs, and job-less ones whose body may name the share
# (checked after decoding: the body is a Celery message, ``[args, kwargs, embed]``).
_DEAD = text(
    "SELECT id, job_id, body, headers, reason FROM ml_dead_letters "
    "WHERE job_id = ANY(:ids) OR (job_id IS NULL AND strpos(body, :s) > 0) FOR UPDATE"
)
_DEAD_SET = text(
    "UPDATE ml_dead_letters SET body = :body, headers = CAST(:headers AS jsonb), "
    "reason = :reason WHERE id = :id"
)
_TOMBSTONE = text(
    """
    INSERT INTO ml_erasures (tenant_id, share_id, erased_at, removed)
    VALUES (:t, :s, now(), CAST(:removed AS jsonb))
    ON CONFLICT (tenant_id, share_id)
    DO UPDATE SET erased_at = now(), removed = EXCLUDED.removed
    RETURNING erased_at
    """
)


@dataclass(frozen=True, slots=True)
class Erased:
    """What one erasure removed (``removed``: count per kind) and what is left to do."""

    tenant_id: str
    share_id: str
    erased_at: datetime
    removed: dict[str, int]
    #: The share's jobs: their kept media (``domain.media_keys.job_prefix``) goes after commit.
    job_ids: list[UUID] = field(default_factory=list)
    #: Media the app handed us by URI (``s3://``, ``local://``), to delete after commit.
    media_uris: list[str] = field(default_factory=list)


def _rowcount(result: Any) -> int:
    return int(result.rowcount or 0)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _names_share(kwargs: Any, tenant_id: str, share_id: str) -> bool:
    return (
        isinstance(kwargs, dict)
        and kwargs.get("share_id") == share_id
        and kwargs.get("tenant_id", "default") == tenant_id
    )


def _blank_body(body: str, tenant_id: str, share_id: str, *, of_job: bool) -> str | None:
    """The dead letter's body blanked; None when a job-less body is not the share's."""
    try:
        decoded = json.loads(body)
    except ValueError:
        return "" if of_job else None
    kwargs = decoded[1] if isinstance(decoded, list) and len(decoded) > 1 else decoded
    if not of_job and not _names_share(kwargs, tenant_id, share_id):
        return None
    if isinstance(decoded, list):  # keep the Celery body's [args, kwargs, embed] frame
        return _dumps([blank(part) for part in decoded])
    return _dumps(blank(decoded))


def _outbox(session: Session, ids: list[UUID], t: str, s: str) -> tuple[int, int]:
    params = {"ids": ids, "t": t, "s": s}
    dropped = _rowcount(session.execute(_DROP_UNSENT, params))
    rows = session.execute(_OUTBOX, params).all()
    for row in rows:
        headers = {k: v for k, v in (row.headers or {}).items() if k in ("id", "traceparent")}
        values = {"id": row.id, "kwargs": _dumps(blank(row.kwargs)), "headers": _dumps(headers)}
        session.execute(_OUTBOX_SET, values)
    return dropped, len(rows)


def _deliveries(session: Session, t: str, s: str) -> int:
    rows = session.execute(_DELIVERIES, {"t": t, "s": s}).all()
    for row in rows:
        session.execute(_DELIVERY_SET, {"id": row.id, "body": _dumps(blank(row.body))})
    if rows:
        session.execute(_ATTEMPTS, {"ids": [r.id for r in rows]})
    return len(rows)


def _dead_letters(session: Session, ids: list[UUID], t: str, s: str) -> int:
    count = 0
    for row in session.execute(_DEAD, {"ids": ids, "s": s}).all():
        body = _blank_body(row.body, t, s, of_job=row.job_id is not None)
        if body is None:
            continue
        values = {
            "id": row.id,
            "body": body,
            "headers": _dumps(blank(row.headers or {})),
            "reason": blank_error(row.reason) or "",
        }
        session.execute(_DEAD_SET, values)
        count += 1
    return count


def _media_uris(payloads: Sequence[Any]) -> list[str]:
    uris = {p.get("media_url") for p in payloads if isinstance(p, dict)}
    return sorted(u for u in uris if isinstance(u, str) and u.startswith(("s3://", "local://")))


def erase(session: Session, *, tenant_id: str, share_id: str) -> Erased:
    """Erase the share's data in this transaction (see the module docstring)."""
    t, s = tenant_id, share_id
    session.execute(_LOCK, {"k": f"erasure\x1f{t}\x1f{s}"})
    rows = session.execute(_JOBS, {"t": t, "s": s}).all()
    ids: list[UUID] = [r.id for r in rows]
    media = _media_uris([r.payload for r in rows])
    cancelled = 0
    for row in rows:
        if row.status not in JobStatus.TERMINAL:
            jobs.cancel(session, row.id)
            cancelled += 1
    results = _rowcount(session.execute(_RESULTS, {"ids": ids}))
    embeddings = _rowcount(session.execute(_EMBEDDINGS, {"t": t, "s": s}))
    blanked = _rowcount(
        session.execute(_BLANK_JOBS, {"ids": ids, "keep": sorted(KEEP), "why": ERASED})
    )
    dropped, outbox = _outbox(session, ids, t, s)
    removed = {
        "jobs_cancelled": cancelled,
        "jobs_blanked": blanked,
        "results": results,
        "embeddings": embeddings,
        "outbox_dropped": dropped,
        "outbox_blanked": outbox,
        "webhook_deliveries_blanked": _deliveries(session, t, s),
        "dead_letters_blanked": _dead_letters(session, ids, t, s),
    }
    erased_at: datetime = session.execute(
        _TOMBSTONE, {"t": t, "s": s, "removed": _dumps(removed)}
    ).scalar_one()
    return Erased(t, s, erased_at, removed, ids, media)


def record_media(session: Session, *, tenant_id: str, share_id: str, objects: int) -> None:
    """Add the media objects deleted after the commit to the tombstone's counts."""
    session.execute(
        text(
            "UPDATE ml_erasures SET removed = removed || jsonb_build_object('media_objects', "
            "coalesce((removed->>'media_objects')::int, 0) + :n) "
            "WHERE tenant_id = :t AND share_id = :s"
        ),
        {"t": tenant_id, "s": share_id, "n": objects},
    )
