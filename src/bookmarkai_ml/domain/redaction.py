"""Blanking content out of stored JSON while keeping its shape (pure; no I/O).

Erasure and retention keep rows that other parts of the platform count or join on
(jobs, sent outbox rows, webhook deliveries, dead letters) but must remove what the user
saved: text, media URLs, transcripts, summaries, tags, error messages that may quote them.
The rule is an allow-list, so a field added later is blanked by default:

- a value under a key in :data:`KEEP` (ids, task, status, times, CloudEvents attributes)
  is kept as it is;
- any other string becomes ``""``, any other list ``[]``, a mapping is blanked key by
  key, and numbers, booleans and ``null`` are kept (durations, counts: no content).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Keys whose values identify or describe a record and never carry saved content.
KEEP = frozenset(
    {
        # task messages and job views
        "schema_version",
        "job_id",
        "id",
        "tenant_id",
        "share_id",
        "task",
        "status",
        "attempts",
        "then",
        "parent_id",
        "created_at",
        "updated_at",
        "started_at",
        "finished_at",
        "retry_after",
        "code",
        "redacted",
        "model",
        "provider",
        # CloudEvents attributes (docs/messages.md, "Completion events")
        "specversion",
        "source",
        "type",
        "subject",
        "time",
        "datacontenttype",
        "dataschema",
        "tenantid",
        # Celery protocol v2 headers that name the message, not its content
        "lang",
        "root_id",
        "group",
        "retries",
        "traceparent",
        "x-bookmarkai-source-queue",
    }
)

#: What a blanked task payload says about why (``ml_jobs.payload.redacted``).
ERASED = "erased"
RETENTION = "retention"


def blank(value: Any, *, keep: frozenset[str] = KEEP) -> Any:
    """``value`` with every string and list outside ``keep``'s keys emptied (see module)."""
    if isinstance(value, Mapping):
        return {str(k): v if str(k) in keep else blank(v, keep=keep) for k, v in value.items()}
    if isinstance(value, str):
        return ""
    if isinstance(value, list | tuple):
        return []
    return value


def blank_error(message: str | None) -> str | None:
    """An error message reduced to its leading code (``"contract_violation: ..."`` ->
    ``"contract_violation"``): the rest may quote the content that caused it."""
    if message is None:
        return None
    head = message.split(":", 1)[0].strip()
    return head if head and " " not in head else "erased"
