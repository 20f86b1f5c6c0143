"""The webhook deliverer: a loop in the relay's process that sends due deliveries.

Each round claims up to ``webhooks.batch_size`` due deliveries in one short transaction
(``db.webhook_deliveries.claim_due``), sends them concurrently with no transaction open,
and records the outcomes in a second short transaction. A failed attempt is retried on
``webhooks.retry_schedule_s``; the schedule's end fails the delivery, and an endpoint
that keeps failing is disabled (``domain.webhook_policy``). Never runs in an API request:
``messaging.service.RelayService`` starts it next to the outbox relay, so the standalone
``relay``, the API's embedded relay and ``up`` all deliver.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

from bookmarkai_ml.config import WebhookSettings
from bookmarkai_ml.db.engine import SessionFactory, transaction, translate_db_errors
from bookmarkai_ml.db.webhook_deliveries import Due, Recorded, claim_due, record
from bookmarkai_ml.domain.backoff import Backoff
from bookmarkai_ml.domain.webhook_policy import AttemptOutcome
from bookmarkai_ml.errors import DatabaseUnavailableError
from bookmarkai_ml.observability.spans import untraced
from bookmarkai_ml.webhooks.sender import Sender

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Seconds a claim outlives the attempt's own timeout: resolving, recording, a slow loop.
_LEASE_MARGIN_S = 60.0


class WebhookHooks(Protocol):
    """Observability hooks; cheap, and must not raise."""

    def attempted(self, *, ok: bool, duration_s: float) -> None: ...
    def finished(self, status: str) -> None: ...
    def disabled(self) -> None: ...


class Deliverer:
    """Sends due webhook deliveries until :meth:`stop`."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        settings: WebhookSettings,
        sender: Sender,
        hooks: WebhookHooks | None = None,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._sender = sender
        self._hooks = hooks
        self._backoff = Backoff(initial=1.0, maximum=30.0)
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhooks-db")
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _in_db(self, fn: Callable[[], T]) -> T:
        def call() -> T:
            with translate_db_errors(), untraced():
                return fn()

        return await asyncio.get_running_loop().run_in_executor(self._db, call)

    def _claim(self) -> list[Due]:
        lease = self._settings.timeout_s + _LEASE_MARGIN_S
        with transaction(self._sessions) as session:
            return claim_due(session, limit=self._settings.batch_size, lease_s=lease)

    def _record(self, sent: list[tuple[Due, AttemptOutcome]]) -> list[Recorded]:
        with transaction(self._sessions) as session:
            return [record(session, due, out, settings=self._settings) for due, out in sent]

    async def _send(self, due: Due) -> AttemptOutcome:
        return await self._sender.send(
            url=due.url, secret=due.secret, msg_id=due.event_id, body=due.body
        )

    async def deliver_due(self) -> int:
        """One round: claim, send, record; returns how many deliveries were attempted.

        Raises:
            DatabaseUnavailableError: the database is unreachable (the loop backs off).
        """
        claimed = await self._in_db(self._claim)
        if not claimed:
            return 0
        outcomes = await asyncio.gather(*(self._send(due) for due in claimed))
        sent = list(zip(claimed, outcomes, strict=True))
        recorded = await self._in_db(lambda: self._record(sent))
        for (due, outcome), result in zip(sent, recorded, strict=True):
            self._report(due, outcome, result)
        return len(claimed)

    def _report(self, due: Due, outcome: AttemptOutcome, result: Recorded) -> None:
        if result.disabled:
            log.warning("webhook %s disabled: %s", due.webhook_id, result.disabled)
        elif result.status == "failed":
            log.warning("webhook delivery %s failed after %d attempts", due.id, due.attempts + 1)
        if self._hooks is None or result.status == "stale":
            return
        self._hooks.attempted(ok=outcome.ok, duration_s=outcome.duration_ms / 1000)
        if result.status in ("delivered", "failed"):
            self._hooks.finished(result.status)
        if result.disabled:
            self._hooks.disabled()

    async def run(self) -> None:
        """Deliver until :meth:`stop`; never raises for database outages or bugs."""
        failures = 0
        while not self._stop.is_set():
            wait = self._settings.poll_interval_s
            try:
                if await self.deliver_due() >= self._settings.batch_size:
                    wait = 0.0  # a full batch: more may be due
                failures = 0
            except DatabaseUnavailableError as exc:
                failures += 1
                wait = self._backoff.delay(failures)
                log.warning("webhook round failed (%s); retrying in %.1fs", exc, wait)
            except Exception:  # a bug must not stop deliveries; the rows stay pending
                failures += 1
                wait = self._backoff.delay(failures)
                log.exception("webhook round crashed; retrying in %.1fs", wait)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=wait)

    def start(self) -> asyncio.Task[None]:
        """Run in the background of the current event loop."""
        self._stop.clear()
        self._task = asyncio.create_task(self.run(), name="webhook-deliverer")
        return self._task

    async def stop(self, *, grace_s: float = 2.0) -> None:
        """Stop; a round still sending after ``grace_s`` is cancelled, and its deliveries
        are sent again when their claim lapses (receivers deduplicate on ``webhook-id``)."""
        self._stop.set()
        if self._task is not None:
            _, pending = await asyncio.wait({self._task}, timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._sender.aclose()
        self._db.shutdown(wait=False)
