"""The outbox relay: publish committed ``ml_outbox`` rows with confirms, then mark them sent.

- Rows are task messages (``kind='task'``, to ``ml.tasks``) or completion events
  (``kind='event'``, to ``ml.events``, see ``messaging/events.py``).
- Claims rows with ``FOR UPDATE SKIP LOCKED`` (never a high-water mark), so several
  relays share the work and a row committed "late" by a slow transaction is never
  skipped. A claim is a lease (``claimed_until``) committed at once: no database
  transaction stays open while the batch is published or the broker reconnects. A row
  is marked sent only after its confirm; a relay that dies mid-batch leaves leases that
  expire, and another round republishes (workers absorb the duplicate): never lost.
- A drain has a deadline (``outbox.drain_deadline_s``): publishes still waiting on a
  broker that is reconnecting are abandoned, their leases released, and the round backs
  off, so one drain can never last for hours.
- Wakes on ``LISTEN ml_outbox`` (the insert trigger of migration 0001), so the happy
  path has no polling delay; a slow poll is the safety net.
- A broker outage backs off 1 s -> 10 s and keeps every row, however long it lasts.
  A permanent refusal (unroutable, oversized) is retried with the same backoff and,
  after ``max_permanent_attempts``, marks the job ``failed`` with the reason.
- Housekeeping every ``maintenance_interval_s``, on a task and a database thread of its
  own, whatever the publishing side is doing: the job repository sweeps jobs whose lease
  expired (a dead worker whose message was already acked) back to the queue, and the
  backlog gauges are reported; callers add more (the DLQ archiver) via ``maintenance``.

Runs standalone (``bookmarkai-ml relay``) or inside another asyncio program
(``start()`` / ``stop()``); database calls run on one private thread so the event loop
never blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

import psycopg
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from bookmarkai_ml.config import OutboxSettings
from bookmarkai_ml.db.engine import make_session_factory, translate_db_errors
from bookmarkai_ml.db.jobs import fail_unfinished
from bookmarkai_ml.domain.backoff import Backoff
from bookmarkai_ml.errors import (
    BrokerUnavailableError,
    DatabaseUnavailableError,
    PublishRejectedError,
)
from bookmarkai_ml.messaging import events, protocol, topology
from bookmarkai_ml.messaging.hooks import RelayHooks
from bookmarkai_ml.observability.spans import untraced
from bookmarkai_ml.ports import JobRepository, Publisher

log = logging.getLogger(__name__)
T = TypeVar("T")
CHANNEL = "ml_outbox"

_CLAIM = text(
    """
    UPDATE ml_outbox SET claimed_until = now() + make_interval(secs => :lease)
    WHERE id IN (
        SELECT id FROM ml_outbox
        WHERE sent_at IS NULL AND next_attempt_at <= now()
          AND (claimed_until IS NULL OR claimed_until <= now())
        ORDER BY next_attempt_at, id LIMIT :limit FOR UPDATE SKIP LOCKED)
    RETURNING id, job_id, routing_key, task_name, kwargs, headers, attempts, kind
    """
)
_RELEASE = text("UPDATE ml_outbox SET claimed_until = NULL WHERE id = ANY(:ids)")
_BACKLOG = text(
    "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0) "
    "FROM ml_outbox WHERE sent_at IS NULL"
)
_NEXT_DUE = text(
    "SELECT extract(epoch FROM min(greatest(next_attempt_at, coalesce(claimed_until, "
    "next_attempt_at))) - now()) FROM ml_outbox WHERE sent_at IS NULL"
)


@dataclass(frozen=True, slots=True)
class _Row:
    id: int
    job_id: UUID | None
    routing_key: str
    task_name: str
    kwargs: dict[str, Any]
    headers: dict[str, Any]
    attempts: int
    kind: str = "task"

    def message(self) -> Any:
        if self.kind == events.KIND:
            return events.encode(self.kwargs, routing_key=self.routing_key, headers=self.headers)
        extra = {k: v for k, v in self.headers.items() if k != "id"}
        return protocol.encode(
            task_name=self.task_name,
            kwargs=self.kwargs,
            routing_key=self.routing_key,
            exchange=topology.TASK_EXCHANGE,
            task_id=str(self.headers.get("id") or f"outbox-{self.id}"),
            headers=extra,
        )


class OutboxRelay:
    """Publishes outbox rows through ``publisher`` (a ``ports.Publisher``)."""

    def __init__(
        self,
        *,
        engine: Engine,
        publisher: Publisher,
        jobs: JobRepository,
        settings: OutboxSettings,
        hooks: RelayHooks | None = None,
        maintenance: Sequence[Callable[[], Awaitable[None]]] = (),
        prepare: Callable[[], Awaitable[None]] | None = None,
        max_attempts: int = 6,
        listen: bool = True,
    ) -> None:
        """``prepare`` runs before every drain (e.g. declaring the topology the publishes
        need); raising ``BrokerUnavailableError`` there backs the round off with no row
        spent, where a refused publish would count against the row. A job whose lease
        expired is requeued until ``max_attempts`` runs have started, then failed."""
        self._engine = engine
        self._sessions = make_session_factory(engine)
        self._publisher = publisher
        self._jobs = jobs
        self._settings = settings
        self._hooks = hooks
        self._maintenance = list(maintenance)
        self._prepare = prepare
        self._max_attempts = max_attempts
        self._listen_enabled = listen
        self._backoff = Backoff(initial=settings.retry_initial_s, maximum=settings.retry_max_s)
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-relay-db")
        # Housekeeping has its own thread: a slow publish round never delays it.
        self._housekeeping_db = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="outbox-relay-housekeeping"
        )
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _in_db(
        self, fn: Callable[..., T], *args: Any, executor: ThreadPoolExecutor | None = None
    ) -> T:
        loop = asyncio.get_running_loop()

        def call() -> T:
            # The relay's own statements are polling, not part of any job's trace.
            with translate_db_errors(), untraced():
                return fn(*args)

        return await loop.run_in_executor(executor or self._db, call)

    # -- publishing ------------------------------------------------------------------

    def _claim(self) -> list[_Row]:
        """Lease due rows to this relay, in a transaction that commits at once."""
        # The lease outlives the drain's deadline, so it never expires under a publish.
        params = {"limit": self._settings.batch_size, "lease": 2 * self._settings.drain_deadline_s}
        with self._sessions.begin() as session:
            rows = session.execute(_CLAIM, params).all()
        return sorted((_Row(*r) for r in rows), key=lambda r: r.id)  # type: ignore[arg-type]

    def _complete(self, rows: list[_Row], errors: list[BaseException | None]) -> None:
        """Mark the confirmed rows sent and record the failures; every lease ends."""
        with self._sessions.begin() as session:
            sent = [r.id for r, e in zip(rows, errors, strict=True) if e is None]
            if sent:
                session.execute(
                    text(
                        "UPDATE ml_outbox SET sent_at = now(), attempts = attempts + 1, "
                        "claimed_until = NULL WHERE id = ANY(:ids)"
                    ),
                    {"ids": sent},
                )
            for row, error in zip(rows, errors, strict=True):
                if error is not None:
                    self._record_failure(session, row, error)
            failed = [r.id for r, e in zip(rows, errors, strict=True) if e is not None]
            if failed:
                session.execute(_RELEASE, {"ids": failed})

    def _record_failure(self, session: Session, row: _Row, error: BaseException) -> None:
        message = f"{type(error).__name__}: {error}"[:2000]
        if not isinstance(error, PublishRejectedError):
            session.execute(
                text("UPDATE ml_outbox SET last_error = :e WHERE id = :id"),
                {"e": message, "id": row.id},
            )
            return
        attempts = row.attempts + 1
        if attempts < self._settings.max_permanent_attempts:
            delay = self._backoff.delay(attempts)
            session.execute(
                text(
                    "UPDATE ml_outbox SET attempts = :a, last_error = :e, "
                    "next_attempt_at = now() + make_interval(secs => :d) WHERE id = :id"
                ),
                {"a": attempts, "e": message, "d": delay, "id": row.id},
            )
            return
        log.error("outbox row %s refused %d times; failing job %s", row.id, attempts, row.job_id)
        session.execute(
            text(
                "UPDATE ml_outbox SET attempts = :a, last_error = :e, sent_at = now() "
                "WHERE id = :id"
            ),
            {"a": attempts, "e": "gave up: " + message, "id": row.id},
        )
        if row.job_id is not None and row.kind != events.KIND:  # an event's job has ended
            code = getattr(error, "code", "publish_rejected")
            fail_unfinished(session, row.job_id, code=code, message=message)

    async def _publish(self, row: _Row) -> BaseException | None:
        try:
            await self._publisher.publish(row.message())
        except (BrokerUnavailableError, PublishRejectedError) as exc:
            return exc
        return None

    async def _publish_batch(self, rows: list[_Row]) -> list[BaseException | None]:
        """Publish ``rows`` at once; a publish still waiting at the drain's deadline is
        abandoned as a transient failure (its row stays unsent)."""
        tasks = [asyncio.create_task(self._publish(r)) for r in rows]
        done, pending = await asyncio.wait(tasks, timeout=self._settings.drain_deadline_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        deadline = BrokerUnavailableError(
            f"no confirm within the drain deadline ({self._settings.drain_deadline_s:g}s)"
        )
        return [t.result() if t in done else deadline for t in tasks]

    async def drain(self) -> int:
        """Publish every due row; returns how many were sent.

        Raises:
            BrokerUnavailableError: some publishes failed transiently (back off).
            DatabaseUnavailableError: the database is unreachable (back off).
        """
        total = 0
        while True:
            rows = await self._in_db(self._claim)
            if not rows:
                return total
            errors = await self._publish_batch(rows)
            # Shielded: a relay stopped now still records what the broker confirmed.
            await asyncio.shield(self._in_db(self._complete, rows, errors))
            total += errors.count(None)
            transient = [e for e in errors if isinstance(e, BrokerUnavailableError)]
            if transient:
                raise BrokerUnavailableError(f"{len(transient)} publishes failed: {transient[0]}")
            if len(rows) < self._settings.batch_size:
                return total

    # -- housekeeping ----------------------------------------------------------------------

    def _requeue_expired_leases(self) -> int:
        requeued, failed = self._jobs.sweep_expired_leases(max_attempts=self._max_attempts)
        if requeued or failed:
            log.warning(
                "%d jobs' worker leases expired: %d requeued, %d out of attempts (failed)",
                requeued + failed,
                requeued,
                failed,
            )
        return requeued + failed

    def _backlog(self) -> tuple[int, float]:
        with self._engine.connect() as conn:
            count, age = conn.execute(_BACKLOG).one()
        return int(count), float(age)  # type: ignore[call-overload, arg-type]

    def _next_due(self) -> float | None:
        """Seconds until the earliest delayed row is due (None: nothing pending)."""
        with self._engine.connect() as conn:
            due = conn.execute(_NEXT_DUE).scalar()
        return None if due is None else float(due)

    async def maintain(self) -> None:
        """Requeue jobs with expired leases, report gauges, run extra housekeeping."""
        executor = self._housekeeping_db
        await self._in_db(self._requeue_expired_leases, executor=executor)
        count, age = await self._in_db(self._backlog, executor=executor)
        if self._hooks is not None:
            self._hooks.backlog(count, age)
        for task in self._maintenance:
            try:
                await task()
            except Exception as exc:  # one line with its cause; the next round tries again
                cause = f"; caused by {exc.__cause__!r}" if exc.__cause__ else ""
                name = getattr(task, "__name__", repr(task))
                log.error("relay housekeeping %s failed: %r%s", name, exc, cause)

    # -- the loop ----------------------------------------------------------------------------

    async def _listen(self) -> None:
        dsn = self._engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._wake.set()  # rows committed while we were not listening
                    async for _ in conn.notifies():
                        self._wake.set()
            except psycopg.Error as exc:
                log.warning("LISTEN %s lost (%s); reconnecting", CHANNEL, exc)
                await asyncio.sleep(1.0)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, seconds))

    async def _housekeep(self) -> None:
        """:meth:`maintain` every ``maintenance_interval_s`` until :meth:`stop`."""
        while not self._stop.is_set():
            try:
                await self.maintain()
            except (BrokerUnavailableError, DatabaseUnavailableError) as exc:
                log.warning("relay housekeeping skipped a round: %s", exc)
            except Exception:  # a bug must not stop the housekeeping
                log.exception("relay housekeeping crashed; next round as scheduled")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._stop.wait(), timeout=self._settings.maintenance_interval_s
                )

    async def run(self) -> None:
        """Relay until :meth:`stop`; never raises for broker or database outages."""
        listener = asyncio.create_task(self._listen()) if self._listen_enabled else None
        housekeeping = asyncio.create_task(self._housekeep(), name="outbox-housekeeping")
        failures = 0
        try:
            while not self._stop.is_set():
                self._wake.clear()
                try:
                    if self._prepare is not None:
                        await self._prepare()
                    await self.drain()
                    failures = 0
                    due = await self._in_db(self._next_due)
                except (BrokerUnavailableError, DatabaseUnavailableError) as exc:
                    failures += 1
                    delay = self._backoff.delay(failures)
                    log.warning("relay round failed (%s); retrying in %.1fs", exc, delay)
                    await asyncio.sleep(delay)
                    continue
                except Exception:  # a bug must not stop the relay; rows stay unsent
                    failures += 1
                    log.exception("relay round crashed; retrying")
                    await asyncio.sleep(self._backoff.delay(failures))
                    continue
                wait = self._settings.poll_interval_s
                if due is not None:
                    wait = min(wait, max(due, 0.05))
                await self._sleep(wait)
        finally:
            background = [t for t in (listener, housekeeping) if t is not None]
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)

    def start(self) -> asyncio.Task[None]:
        """Run in the background of the current event loop (e.g. inside the API)."""
        self._stop.clear()
        self._task = asyncio.create_task(self.run(), name="outbox-relay")
        return self._task

    async def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self._db.shutdown(wait=False)
        self._housekeeping_db.shutdown(wait=False)
