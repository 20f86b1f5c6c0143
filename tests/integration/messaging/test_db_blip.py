"""A database blip while the result is written costs nothing.

The runtime talks to Postgres through a TCP proxy that this test cuts for a moment
exactly when the handler returns, i.e. while the finishing transaction runs
(docs/operations.md, "Nothing lost, nothing twice").
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import Engine, text

from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import SummarizeTask, SummaryResult, TaskType, encode_task
from bookmarkai_ml.db.engine import SessionFactory, make_engine, make_session_factory, transaction
from bookmarkai_ml.ports import CostLine, JobContext, TaskOutcome
from bookmarkai_ml.services import jobs
from bookmarkai_ml.workers.runtime import Delivery, Disposition
from support.runtime import runtime_with
from support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration


@pytest.fixture
def proxy(pg_url: str) -> Any:
    parts = urlsplit(pg_url)
    socket_dir = parse_qs(parts.query)["host"][0]
    with TcpProxy(unix_path=Path(socket_dir) / ".s.PGSQL.5432") as p:
        yield p


def test_result_written_once_across_a_database_blip(
    clean_db: Engine,
    sessions: SessionFactory,
    settings: Settings,
    pg_url: str,
    proxy: TcpProxy,
) -> None:
    database = urlsplit(pg_url).path
    via_proxy = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}{database}")
    calls: list[Any] = []

    def handler(message: Any, ctx: JobContext) -> TaskOutcome:
        calls.append(ctx.job_id)
        proxy.outage(1.2)  # the finishing transaction starts right after we return
        return TaskOutcome(
            result=SummaryResult(summary="s", model="m", provider="p"),
            cost=CostLine(provider="p", model="m", usd=Decimal("0.01")),
        )

    runtime = runtime_with(settings, make_session_factory(via_proxy), handler)
    with transaction(sessions) as session:
        job = jobs.submit(session, SummarizeTask(share_id="blip", content="text")).job
    with transaction(sessions) as session:
        payload = jobs.get(session, job.id)
    message = encode_task(SummarizeTask(share_id="blip", content="text", job_id=payload.id))

    report = runtime.run(TaskType.SUMMARIZE, message, Delivery())
    via_proxy.dispose()

    assert report.disposition is Disposition.DONE
    assert calls == [job.id]
    assert proxy.refused >= 1  # the finishing transaction did meet the outage
    with clean_db.connect() as conn:
        assert conn.execute(text("SELECT status FROM ml_jobs")).scalar() == "done"
        assert conn.execute(text("SELECT count(*) FROM ml_results")).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM ml_costs")).scalar() == 1
