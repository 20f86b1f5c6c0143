"""The budget ledger on Postgres: atomic reservations against rolling windows.

``reserve`` runs in one transaction that first takes ``pg_advisory_xact_lock`` on
the task type, so concurrent reservations of one task type are serialised and can
never overshoot together; other task types are not blocked. Inside the lock it sums
``ml_costs`` in each window plus the held, unexpired ``ml_budget_reservations`` and
inserts the new reservation only if every window still fits (docs/operations.md,
"Budgets and costs").

Settling (held -> settled, with the cost row) is the job repository's, in the
transaction that finishes the job (``db/jobs/``); this module never writes
``ml_costs``. A dead worker's reservation stops counting when it expires
(``reservation_ttl_s``); each ``reserve`` marks its task's expired rows released,
and ``reap_expired`` does it for every task. An unreachable database raises
``DatabaseUnavailableError``: the check fails closed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.orm import Session

from bookmarkai_ml.config import BudgetSettings, TaskSettings
from bookmarkai_ml.contracts import TaskType
from bookmarkai_ml.db.engine import SessionFactory, transaction, translate_db_errors
from bookmarkai_ml.domain import budgets as math
from bookmarkai_ml.errors import BudgetExceededError

_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('bookmarkai_ml.budget.' || :task))")
_NOW = text("SELECT clock_timestamp()")
_SPEND = text(
    "SELECT created_at, usd FROM ml_costs WHERE task = :task AND created_at > :since "
    "ORDER BY created_at"
)
_HELD = text(
    "SELECT coalesce(sum(usd), 0) FROM ml_budget_reservations "
    "WHERE task = :task AND status = 'held' AND expires_at > :now"
)
_DROP_OWN = text(
    "UPDATE ml_budget_reservations SET status = 'released' WHERE job_id = :job AND status = 'held'"
)
_INSERT = text(
    "INSERT INTO ml_budget_reservations (job_id, task, usd, status, created_at, expires_at) "
    "VALUES (:job, :task, :usd, 'held', :now, :expires)"
)
_REAP = text(
    "UPDATE ml_budget_reservations SET status = 'released' "
    "WHERE status = 'held' AND expires_at <= clock_timestamp()"
)
_REAP_TASK = text(
    "UPDATE ml_budget_reservations SET status = 'released' "
    "WHERE task = :task AND status = 'held' AND expires_at <= :now"
)


@dataclass(frozen=True, slots=True)
class BudgetWindowStatus:
    """One window of one task type, as the API and the CLI show it."""

    task: str
    window: str
    limit_usd: Decimal
    spent_usd: Decimal
    reserved_usd: Decimal
    remaining_usd: Decimal
    resets_at: datetime


def _read(
    session: Session, task: str, windows: Sequence[math.Window]
) -> tuple[datetime, list[math.Spend], Decimal]:
    """Now, the spend within the longest window, and the held reservations of ``task``."""
    now: datetime = session.execute(_NOW).scalar_one()
    longest = max((w.seconds for w in windows), default=0)
    rows = session.execute(_SPEND, {"task": task, "since": now - timedelta(seconds=longest)})
    spend = [math.Spend(row.created_at, Decimal(row.usd)) for row in rows]
    held = Decimal(session.execute(_HELD, {"task": task, "now": now}).scalar_one())
    return now, spend, held


def budget_status(
    session: Session,
    limits: Mapping[TaskType, TaskSettings],
    tasks: Sequence[str] | None = None,
) -> list[BudgetWindowStatus]:
    """Spent, reserved, remaining and reset time of every window of ``tasks`` (all by default);
    ``limits`` is ``settings.tasks``."""
    out: list[BudgetWindowStatus] = []
    for task in tasks or [t.value for t in TaskType]:
        windows = math.windows_for(task, limits)
        if not windows:
            continue
        now, spend, held = _read(session, task, windows)
        for window in windows:
            state = math.state(window, spend, held, now)
            out.append(
                BudgetWindowStatus(
                    task=task,
                    window=window.name,
                    limit_usd=window.limit_usd,
                    spent_usd=state.spent,
                    reserved_usd=held,
                    remaining_usd=state.remaining,
                    resets_at=math.resets_at(window, spend, now) or now,
                )
            )
    return out


class BudgetService:
    """``ports.BudgetLedger`` on Postgres, plus status and housekeeping; thread-safe."""

    def __init__(
        self,
        sessions: SessionFactory,
        budgets: BudgetSettings,
        limits: Mapping[TaskType, TaskSettings],
    ) -> None:
        """``limits`` is ``settings.tasks``: the spend windows of each task type."""
        self._sessions = sessions
        self._budgets = budgets
        self._limits = limits

    def reserve(self, *, job_id: UUID, task: str, usd: Decimal) -> None:
        """Hold ``usd`` for ``job_id`` against every window of ``task``, atomically.

        A job's earlier held reservation (a redelivery) is replaced, not added to.
        A zero estimate (local models) needs no reservation and always fits.

        Raises:
            BudgetExceededError: some window would overshoot; ``retry_after`` is when
                enough spend will have left it.
            DatabaseUnavailableError: the ledger is unreachable (fail closed).
        """
        if usd <= 0:
            return
        windows = math.windows_for(task, self._limits)
        with transaction(self._sessions) as session:
            session.execute(_LOCK, {"task": task})
            session.execute(_DROP_OWN, {"job": job_id})
            now, spend, held = _read(session, task, windows)
            session.execute(_REAP_TASK, {"task": task, "now": now})  # dead workers' holds
            for window in windows:
                if not math.state(window, spend, held, now).fits(usd):
                    retry = math.retry_after(window, spend, held, usd, now)
                    raise BudgetExceededError(
                        f"{task} budget of {window.limit_usd} USD per {window.name} is full",
                        retry_after=retry,
                    )
            expires = now + timedelta(seconds=self._budgets.reservation_ttl_s)
            session.execute(
                _INSERT, {"job": job_id, "task": task, "usd": usd, "now": now, "expires": expires}
            )

    def release(self, *, job_id: UUID) -> None:
        """Drop the job's held reservation (it failed before spending).

        Raises:
            DatabaseUnavailableError: the ledger is unreachable.
        """
        with transaction(self._sessions) as session:
            session.execute(_DROP_OWN, {"job": job_id})

    def reap_expired(self) -> int:
        """Mark reservations left by dead workers released; return how many."""
        with transaction(self._sessions) as session:
            return int(session.execute(_REAP).rowcount or 0)  # type: ignore[attr-defined]

    def status(self, tasks: Sequence[str] | None = None) -> list[BudgetWindowStatus]:
        """Every window's spend and headroom (see ``budget_status``)."""
        with translate_db_errors(), self._sessions() as session:
            return budget_status(session, self._limits, tasks)
