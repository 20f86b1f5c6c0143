"""Retention: the relay's housekeeping prunes old outbox rows, job inputs and dead letters.

Each kind is pruned in batches (``retention.batch_size`` rows, one short transaction
each) until a batch comes back short or ``retention.max_batches`` ran; what is left waits
for the next round, so one round never holds the relay for long. An age of 0 keeps
that kind forever. Ages and defaults: docs/configuration.md (``retention``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy.orm import Session

from bookmarkai_ml.config import RetentionSettings
from bookmarkai_ml.db import retention
from bookmarkai_ml.db.engine import SessionFactory, transaction

log = logging.getLogger(__name__)

DAY_S = 86400.0

#: One batch of one kind: (session, age_s, limit) -> rows pruned.
Batch = Callable[..., int]


class RetentionSweeper:
    """Runs the retention batches on one database; ``prune`` is a relay ``maintenance`` task."""

    def __init__(self, sessions: SessionFactory, settings: RetentionSettings) -> None:
        self._sessions = sessions
        self._settings = settings

    def _kinds(self) -> dict[str, tuple[float, Batch]]:
        s = self._settings
        return {
            "outbox_sent": (s.outbox_sent_days, retention.prune_sent_outbox),
            "job_payloads": (s.job_payload_days, retention.blank_job_payloads),
            "dead_letters": (s.dead_letter_days, retention.prune_dead_letters),
        }

    def _batches(self, batch: Batch, age_s: float) -> int:
        total = 0
        for _ in range(self._settings.max_batches):
            session: Session
            with transaction(self._sessions) as session:
                done = batch(session, age_s=age_s, limit=self._settings.batch_size)
            total += done
            if done < self._settings.batch_size:
                break
        return total

    def sweep(self) -> dict[str, int]:
        """Prune every kind whose age is set; returns the rows pruned per kind.

        Raises:
            DatabaseUnavailableError: the database went away (the next round goes on).
        """
        pruned: dict[str, int] = {}
        for kind, (days, batch) in self._kinds().items():
            if days > 0:
                pruned[kind] = self._batches(batch, days * DAY_S)
        return pruned

    async def prune(self) -> None:
        """One housekeeping round, off the event loop."""
        pruned = await asyncio.to_thread(self.sweep)
        if any(pruned.values()):
            log.info("retention pruned %s", ", ".join(f"{k}={v}" for k, v in pruned.items()))
