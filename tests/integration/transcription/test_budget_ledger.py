"""BudgetService on the real Postgres: reserve, refuse with retry-after, release, expire, status."""

from __future__ import annotations

import socket
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, text

from bookmarkai_ml.config import BudgetSettings, default_tasks
from bookmarkai_ml.contracts import TaskType
from bookmarkai_ml.db.engine import (
    SessionFactory,
    make_engine,
    make_session_factory,
    transaction,
)
from bookmarkai_ml.errors import BudgetExceededError, DatabaseUnavailableError, NotFoundError
from bookmarkai_ml.services import budget_limits
from bookmarkai_ml.services.budgets import BudgetService

pytestmark = pytest.mark.integration


def new_job(engine: Engine, task: str = "transcribe", *, tenant: str = "default") -> uuid.UUID:
    job_id = uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO ml_jobs (id, tenant_id, share_id, task, idempotency_key, payload) "
                "VALUES (:id, :tenant, 's', :task, :key, '{}'::jsonb)"
            ),
            {"id": job_id, "task": task, "key": job_id.hex, "tenant": tenant},
        )
    return job_id


def spend(
    engine: Engine,
    usd: str,
    *,
    minutes_ago: float,
    task: str = "transcribe",
    tenant: str = "default",
) -> None:
    job_id = new_job(engine, task, tenant=tenant)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO ml_costs (job_id, tenant_id, task, provider, model, usd, created_at) "
                "VALUES (:id, :tenant, :task, 'openai', 'whisper-1', :usd, "
                "now() - make_interval(secs => :ago))"
            ),
            {
                "id": job_id,
                "task": task,
                "usd": Decimal(usd),
                "ago": minutes_ago * 60,
                "tenant": tenant,
            },
        )


def held(engine: Engine) -> Decimal:
    with engine.connect() as conn:
        return Decimal(
            conn.execute(
                text(
                    "SELECT coalesce(sum(usd), 0) FROM ml_budget_reservations WHERE status = 'held'"
                )
            ).scalar_one()
        )


@pytest.fixture
def ledger(clean_db: Engine, sessions: SessionFactory) -> BudgetService:
    limits = default_tasks()
    limits[TaskType.TRANSCRIBE] = limits[TaskType.TRANSCRIBE].model_copy(
        update={"per_hour_usd": Decimal(1), "per_day_usd": Decimal(2)}
    )
    return BudgetService(sessions, BudgetSettings(), limits)


def test_reservations_fit_until_the_hour_is_full(ledger: BudgetService, engine: Engine) -> None:
    a, b, c = new_job(engine), new_job(engine), new_job(engine)
    ledger.reserve(job_id=a, task="transcribe", usd=Decimal("0.6"))
    ledger.reserve(job_id=b, task="transcribe", usd=Decimal("0.4"))
    with pytest.raises(BudgetExceededError) as exc:
        ledger.reserve(job_id=c, task="transcribe", usd=Decimal("0.01"))
    assert "hour" in str(exc.value)
    assert held(engine) == Decimal(1)


def test_retry_after_is_when_old_spend_leaves_the_window(
    ledger: BudgetService, engine: Engine
) -> None:
    spend(engine, "0.5", minutes_ago=50)
    spend(engine, "0.4", minutes_ago=10)
    with pytest.raises(BudgetExceededError) as exc:
        ledger.reserve(job_id=new_job(engine), task="transcribe", usd=Decimal("0.2"))
    status = {s.window: s for s in ledger.status(["transcribe"])}
    hour = status["hour"]
    # The 50-minute-old 0.5 leaves the hour in ~10 minutes; that frees enough.
    assert hour.resets_at - timedelta(seconds=5) <= exc.value.retry_after <= hour.resets_at
    assert hour.spent_usd == Decimal("0.9")
    assert hour.remaining_usd == Decimal("0.1")


def test_the_day_window_binds_too(ledger: BudgetService, engine: Engine) -> None:
    spend(engine, "0.9", minutes_ago=300)
    spend(engine, "0.9", minutes_ago=200)
    with pytest.raises(BudgetExceededError, match="day"):
        ledger.reserve(job_id=new_job(engine), task="transcribe", usd=Decimal("0.3"))
    ledger.reserve(job_id=new_job(engine), task="transcribe", usd=Decimal("0.2"))


def test_a_redelivered_job_replaces_its_reservation(ledger: BudgetService, engine: Engine) -> None:
    job = new_job(engine)
    for _ in range(5):
        ledger.reserve(job_id=job, task="transcribe", usd=Decimal("0.5"))
    assert held(engine) == Decimal("0.5")
    ledger.release(job_id=job)
    assert held(engine) == 0


def test_expired_reservations_stop_counting_and_are_reaped(
    ledger: BudgetService, engine: Engine
) -> None:
    dead = new_job(engine)
    ledger.reserve(job_id=dead, task="transcribe", usd=Decimal("0.9"))
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE ml_budget_reservations SET expires_at = now() - interval '1 second'")
        )
    ledger.reserve(job_id=new_job(engine), task="transcribe", usd=Decimal("0.9"))
    assert held(engine) == Decimal("0.9")  # the reservation marked the dead one released
    other = new_job(engine)
    ledger.reserve(job_id=other, task="transcribe", usd=Decimal("0.05"))
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE ml_budget_reservations SET expires_at = now() - interval '1 second' "
                "WHERE job_id = :id"
            ),
            {"id": other},
        )
    assert ledger.reap_expired() == 1
    assert held(engine) == Decimal("0.9")


def test_free_work_needs_no_reservation(ledger: BudgetService, engine: Engine) -> None:
    spend(engine, "5", minutes_ago=1)
    ledger.reserve(job_id=new_job(engine), task="transcribe", usd=Decimal(0))
    assert held(engine) == 0


def test_other_task_types_have_their_own_windows(ledger: BudgetService, engine: Engine) -> None:
    spend(engine, "1", minutes_ago=1)
    ledger.reserve(job_id=new_job(engine, "embed"), task="embed", usd=Decimal("0.5"))
    tasks = {(s.task, s.window) for s in ledger.status()}
    assert ("embed", "hour") in tasks
    assert ("summarize", "day") in tasks


def test_an_unreachable_ledger_fails_closed() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    engine = make_engine(f"postgresql+psycopg://nobody@127.0.0.1:{port}/none?connect_timeout=2")
    ledger = BudgetService(make_session_factory(engine), BudgetSettings(), default_tasks())
    with pytest.raises(DatabaseUnavailableError):
        ledger.reserve(job_id=uuid.uuid4(), task="transcribe", usd=Decimal("0.01"))
    engine.dispose()


def test_a_tenant_window_counts_only_its_tenant_and_sets_retry_after(
    ledger: BudgetService, engine: Engine, sessions: SessionFactory
) -> None:
    """acme's own day window of 0.3 USD: another tenant's spend does not count in it, acme's
    five-hour-old spend does, and the refusal waits for that spend to leave acme's day."""
    with transaction(sessions) as session:
        budget_limits.set_limit(
            session, tenant_id="acme", task="transcribe", window_s=86400, usd=Decimal("0.3")
        )
    spend(engine, "0.5", minutes_ago=10, tenant="other")
    spend(engine, "0.2", minutes_ago=300, tenant="acme")
    fits = new_job(engine, tenant="acme")
    ledger.reserve(job_id=fits, task="transcribe", usd=Decimal("0.1"))
    with pytest.raises(BudgetExceededError, match="tenant acme's transcribe budget") as exc:
        ledger.reserve(job_id=new_job(engine, tenant="acme"), task="transcribe", usd=Decimal("0.1"))
    windows = {(s.tenant_id, s.window): s for s in ledger.status(["transcribe"])}
    day = windows[("acme", "day")]
    assert (day.spent_usd, day.reserved_usd, day.remaining_usd) == (
        Decimal("0.2"),
        Decimal("0.1"),
        Decimal(0),
    )
    # freeing 0.1 needs the 0.2 spent five hours ago to leave acme's day: 19 hours from now
    assert day.resets_at - timedelta(seconds=5) <= exc.value.retry_after <= day.resets_at
    assert windows[(None, "hour")].spent_usd == Decimal("0.5")  # the platform's, not acme's
    ledger.reserve(job_id=new_job(engine, tenant="other"), task="transcribe", usd=Decimal("0.4"))
    with engine.connect() as conn:
        tenants = conn.execute(
            text("SELECT tenant_id FROM ml_budget_reservations WHERE status = 'held' ORDER BY 1")
        ).scalars()
        assert list(tenants) == ["acme", "other"]
    only_acme = ledger.status(["transcribe"], tenant="acme", include_global=False)
    assert [(s.tenant_id, s.window) for s in only_acme] == [("acme", "day")]


def test_reserving_for_a_job_that_does_not_exist_is_not_found(ledger: BudgetService) -> None:
    with pytest.raises(NotFoundError):
        ledger.reserve(job_id=uuid.uuid4(), task="transcribe", usd=Decimal("0.01"))
