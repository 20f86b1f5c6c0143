"""The budget ledger on Postgres: atomic reservations against rolling windows.

Two scopes of windows apply to a job: the global ones of its task (``settings.tasks``,
counting the whole platform's spend) and its tenant's own for that task
(``ml_budget_limits``, counting only that tenant's spend; ``services.budget_limits``
manages them). ``reserve`` runs in one transaction that first takes
``pg_advisory_xact_lock`` on the task type, so concurrent reservations of one task type,
whatever their tenant, are serialised and can never overshoot any window together;
other task types are not blocked. Inside the lock it sums ``ml_costs`` in each window
plus the held, unexpired ``ml_budget_reservations`` of the window's scope, and inserts
the new reservation (with the job's tenant) only if every window of both scopes still
fits (docs/operations.md, "Budgets and costs").

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
from bookmarkai_ml.errors import BudgetExceededError, NotFoundError

#: The scope name of the global windows: no tenant is called "" (keys need 1-100 characters).
GLOBAL = ""

_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('bookmarkai_ml.budget.' || :task))")
_NOW = text("SELECT clock_timestamp()")
_TENANT_OF = text("SELECT tenant_id FROM ml_jobs WHERE id = :job")
_SPEND = text(
    "SELECT created_at, usd FROM ml_costs WHERE task = :task AND created_at > :since "
    "ORDER BY created_at"
)
_TENANT_SPEND = text(
    "SELECT created_at, usd FROM ml_costs "
    "WHERE tenant_id = :tenant AND task = :task AND created_at > :since ORDER BY created_at"
)
_HELD = text(
    "SELECT coalesce(sum(usd), 0) FROM ml_budget_reservations "
    "WHERE task = :task AND status = 'held' AND expires_at > :now"
)
_TENANT_HELD = text(
    "SELECT coalesce(sum(usd), 0) FROM ml_budget_reservations "
    "WHERE tenant_id = :tenant AND task = :task AND status = 'held' AND expires_at > :now"
)
_LIMITS = text(
    "SELECT tenant_id, task, window_s, usd FROM ml_budget_limits "
    "WHERE (CAST(:tenant AS text) IS NULL OR tenant_id = :tenant) AND task = ANY(:tasks) "
    "ORDER BY tenant_id, task, window_s"
)
_DROP_OWN = text(
    "UPDATE ml_budget_reservations SET status = 'released' WHERE job_id = :job AND status = 'held'"
)
_INSERT = text(
    "INSERT INTO ml_budget_reservations "
    "(job_id, tenant_id, task, usd, status, created_at, expires_at) "
    "VALUES (:job, :tenant, :task, :usd, 'held', :now, :expires)"
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
    """One window of one task type, as the API and the CLI show it; ``tenant_id`` is
    ``None`` for a global window (platform-wide spend)."""

    tenant_id: str | None
    task: str
    window: str
    window_s: int
    limit_usd: Decimal
    spent_usd: Decimal
    reserved_usd: Decimal
    remaining_usd: Decimal
    resets_at: datetime


def _scope(
    session: Session, task: str, windows: Sequence[math.Window], now: datetime, tenant: str | None
) -> math.Scope:
    """The spend within the longest of ``windows`` and the held reservations, of the
    whole platform (``tenant`` None) or of one tenant."""
    since = now - timedelta(seconds=max((w.seconds for w in windows), default=0))
    params = {"task": task, "since": since, "now": now, "tenant": tenant}
    spend_sql, held_sql = (_SPEND, _HELD) if tenant is None else (_TENANT_SPEND, _TENANT_HELD)
    spend = [
        math.Spend(row.created_at, Decimal(row.usd)) for row in session.execute(spend_sql, params)
    ]
    held = Decimal(session.execute(held_sql, params).scalar_one())
    return math.Scope(GLOBAL if tenant is None else tenant, windows, spend, held)


def _tenant_windows(
    session: Session, tasks: Sequence[str], tenant: str | None
) -> dict[tuple[str, str], list[math.Window]]:
    """(tenant, task) -> that tenant's windows of that task (of every tenant if ``tenant``
    is None), from ``ml_budget_limits``."""
    out: dict[tuple[str, str], list[math.Window]] = {}
    for row in session.execute(_LIMITS, {"tenant": tenant, "tasks": list(tasks)}):
        window = math.Window(math.window_name(row.window_s), row.window_s, Decimal(row.usd))
        out.setdefault((row.tenant_id, row.task), []).append(window)
    return out


def _rows(scope: math.Scope, task: str, now: datetime) -> list[BudgetWindowStatus]:
    tenant = None if scope.name == GLOBAL else scope.name
    out = []
    for window in scope.windows:
        state = math.state(window, scope.spend, scope.held, now)
        out.append(
            BudgetWindowStatus(
                tenant_id=tenant,
                task=task,
                window=window.name,
                window_s=window.seconds,
                limit_usd=window.limit_usd,
                spent_usd=state.spent,
                reserved_usd=scope.held,
                remaining_usd=state.remaining,
                resets_at=math.resets_at(window, scope.spend, now) or now,
            )
        )
    return out


def budget_status(
    session: Session,
    limits: Mapping[TaskType, TaskSettings],
    tasks: Sequence[str] | None = None,
    *,
    tenant: str | None = None,
    include_global: bool = True,
) -> list[BudgetWindowStatus]:
    """Spent, reserved, remaining and reset time of every window of ``tasks`` (all by
    default): the global ones (unless ``include_global`` is off), then the tenants' own,
    of every tenant or only of ``tenant``. ``limits`` is ``settings.tasks``."""
    tasks = list(tasks or [t.value for t in TaskType])
    now: datetime = session.execute(_NOW).scalar_one()
    out: list[BudgetWindowStatus] = []
    if include_global:
        for task in tasks:
            windows = math.windows_for(task, limits)
            if windows:
                out += _rows(_scope(session, task, windows, now, None), task, now)
    for (owner, task), windows in _tenant_windows(session, tasks, tenant).items():
        out += _rows(_scope(session, task, windows, now, owner), task, now)
    return out


class BudgetService:
    """``ports.BudgetLedger`` on Postgres, plus status and housekeeping; thread-safe."""

    def __init__(
        self,
        sessions: SessionFactory,
        budgets: BudgetSettings,
        limits: Mapping[TaskType, TaskSettings],
    ) -> None:
        """``limits`` is ``settings.tasks``: the global spend windows of each task type."""
        self._sessions = sessions
        self._budgets = budgets
        self._limits = limits

    def reserve(self, *, job_id: UUID, task: str, usd: Decimal) -> None:
        """Hold ``usd`` for ``job_id`` against every window of ``task``, global and its
        tenant's, atomically; the reservation records the job's tenant.

        A job's earlier held reservation (a redelivery) is replaced, not added to.
        A zero estimate (local models) needs no reservation and always fits.

        Raises:
            BudgetExceededError: some window would overshoot; ``retry_after`` is when
                enough spend will have left the refusing window that frees up last.
            NotFoundError: no job ``job_id``.
            DatabaseUnavailableError: the ledger is unreachable (fail closed).
        """
        if usd <= 0:
            return
        with transaction(self._sessions) as session:
            session.execute(_LOCK, {"task": task})
            tenant = session.execute(_TENANT_OF, {"job": job_id}).scalar_one_or_none()
            if tenant is None:
                raise NotFoundError(f"job {job_id} not found")
            session.execute(_DROP_OWN, {"job": job_id})
            now: datetime = session.execute(_NOW).scalar_one()
            session.execute(_REAP_TASK, {"task": task, "now": now})  # dead workers' holds
            scopes = []
            if platform := math.windows_for(task, self._limits):
                scopes.append(_scope(session, task, platform, now, None))
            if own := _tenant_windows(session, [task], tenant).get((tenant, task)):
                scopes.append(_scope(session, task, own, now, tenant))
            refused = math.refusal(scopes, usd, now)
            if refused is not None:
                whose = "" if refused.scope == GLOBAL else f"tenant {refused.scope}'s "
                raise BudgetExceededError(
                    f"{whose}{task} budget of {refused.window.limit_usd} USD per "
                    f"{refused.window.name} is full",
                    retry_after=refused.retry_after,
                )
            expires = now + timedelta(seconds=self._budgets.reservation_ttl_s)
            session.execute(
                _INSERT,
                {
                    "job": job_id,
                    "tenant": tenant,
                    "task": task,
                    "usd": usd,
                    "now": now,
                    "expires": expires,
                },
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

    def status(
        self,
        tasks: Sequence[str] | None = None,
        *,
        tenant: str | None = None,
        include_global: bool = True,
    ) -> list[BudgetWindowStatus]:
        """Every window's spend and headroom (see ``budget_status``)."""
        with translate_db_errors(), self._sessions() as session:
            return budget_status(
                session, self._limits, tasks, tenant=tenant, include_global=include_global
            )
