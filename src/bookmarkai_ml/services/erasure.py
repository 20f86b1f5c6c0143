"""Erasure of one share: ``DELETE /api/ml/shares/{share_id}`` and ``bookmarkai-ml forget``.

The database part is one transaction (``db/erasure.py``); the media objects are deleted
**after** it commits. That order is the safe one: a rolled-back erasure must not have
lost media that its rows still point to, and once the tombstone is committed no worker
can store a new object for the share's erased jobs without deleting it again (the
transcription service re-checks its lease right after keeping a copy). If deleting the
media fails (S3 down), the error reaches the caller with the tombstone already in
place; erasure is idempotent, so calling it again deletes what is left.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bookmarkai_ml.db import erasure
from bookmarkai_ml.db.engine import SessionFactory, transaction
from bookmarkai_ml.domain.media_keys import job_prefix
from bookmarkai_ml.ports import MediaStore


@dataclass(frozen=True, slots=True)
class Erasure:
    """The outcome the API and the CLI print: what was removed, per kind."""

    tenant_id: str
    share_id: str
    erased_at: datetime
    removed: dict[str, int]


class ErasureService:
    """Erases shares on one database and one media store."""

    def __init__(self, sessions: SessionFactory, store: MediaStore) -> None:
        self._sessions = sessions
        self._store = store

    def forget(self, *, tenant_id: str, share_id: str) -> Erasure:
        """Erase the share's data, leave its tombstone, then delete its media objects.

        Raises:
            DatabaseUnavailableError: nothing was erased.
            RetryableError: the rows are erased but some media is left; call again.
        """
        with transaction(self._sessions) as session:
            done = erasure.erase(session, tenant_id=tenant_id, share_id=share_id)
        objects = sum(
            self._store.delete_prefix(job_prefix(tenant_id, share_id, str(job_id)))
            for job_id in done.job_ids
        )
        objects += sum(1 for uri in done.media_uris if self._store.delete(uri))
        with transaction(self._sessions) as session:
            erasure.record_media(session, tenant_id=tenant_id, share_id=share_id, objects=objects)
        removed = {**done.removed, "media_objects": objects}
        return Erasure(tenant_id, share_id, done.erased_at, removed)
