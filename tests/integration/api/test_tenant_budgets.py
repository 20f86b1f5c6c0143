"""Per-tenant budgets and admin keys on the real API, job runtime and Postgres.

Tenant A has its own summarize window that fits 5 jobs; tenant B has none. 20 jobs of
each are submitted through the API at once, then run at once by the real job runtime
with the real ``BudgetService``: a priced summarizer reserves its estimate, then waits
at a gate until every job has reserved or been refused, so no early settle can free
room and the count of runs is exact. Then each key reads ``/api/ml/analytics/*``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from bookmarkai_ml.cli.main import app as cli
from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import SummarizeOptions, TaskType
from bookmarkai_ml.db.engine import SessionFactory
from bookmarkai_ml.domain.pricing import price_table
from bookmarkai_ml.domain.text import estimate_tokens
from bookmarkai_ml.fakes import FakeSummarizer
from bookmarkai_ml.ports import Summary
from bookmarkai_ml.services.budgets import BudgetService
from bookmarkai_ml.services.summarization import SummarizationService
from support.api import MakeKey, bearer
from support.runtime import runtime_with

pytestmark = pytest.mark.integration

JOBS = 20
FITS = 5
TEXT = (
    "Per-tenant budgets keep one customer's spend from starving another. "
    "Each job reserves its estimated cost before it calls a paid model. "
    "A refused job ends budget_exceeded and says when to retry."
)
USD_PER_TOKEN = Decimal("0.0001")
ESTIMATE = USD_PER_TOKEN * estimate_tokens(TEXT)
BUDGET = ESTIMATE * FITS + ESTIMATE / 2  # room for 5, not for 6
COSTS = "/api/ml/analytics/costs"
BUDGETS = "/api/ml/analytics/budgets"
LIMITS = "/api/ml/analytics/budgets/tenants"


class GatedSummarizer(FakeSummarizer):
    """A priced summarizer (an API model in the price table) that waits at ``gate``."""

    provider = "openai"
    model = "gpt-4o-mini"

    def __init__(self, gate: threading.Event) -> None:
        super().__init__(usd_per_token=USD_PER_TOKEN)
        self.gate = gate

    def summarize(self, text: str, options: SummarizeOptions) -> Summary:
        assert self.gate.wait(timeout=120), "the gate never opened"
        return super().summarize(text, options)


def _scalar(engine: Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def _decided(engine: Engine) -> int:
    """Jobs that hold a reservation or were refused one."""
    held = _scalar(engine, "SELECT count(*) FROM ml_budget_reservations WHERE status = 'held'")
    refused = _scalar(engine, "SELECT count(*) FROM ml_jobs WHERE status = 'budget_exceeded'")
    return int(held) + int(refused)


def _run_all(
    settings: Settings, sessions: SessionFactory, engine: Engine, messages: list[dict[str, Any]]
) -> list[str]:
    """Run every message at once in the real runtime; open the gate once all have reserved
    or been refused (or after a minute, so that a broken ledger fails the asserts)."""
    gate = threading.Event()
    service = SummarizationService(
        summarizer_for=lambda _provider: GatedSummarizer(gate),
        prices=price_table(settings.budgets),
    )
    ledger = BudgetService(sessions, settings.budgets, settings.tasks)
    runtime = runtime_with(settings, sessions, service, task=TaskType.SUMMARIZE, ledger=ledger)
    start = threading.Barrier(len(messages))

    def run(kwargs: dict[str, Any]) -> str:
        start.wait()
        return runtime.run(TaskType.SUMMARIZE, kwargs).disposition.value

    with ThreadPoolExecutor(max_workers=len(messages)) as pool:
        futures = [pool.submit(run, m) for m in messages]
        deadline = time.monotonic() + 60
        while _decided(engine) < len(messages) and time.monotonic() < deadline:
            time.sleep(0.05)
        gate.set()
        return [f.result() for f in futures]


@pytest.fixture
def budget_settings(api_settings: Settings) -> Settings:
    """Global summarize windows wide enough for all 40 jobs: only A's own window bites."""
    tasks = dict(api_settings.tasks)
    tasks[TaskType.SUMMARIZE] = tasks[TaskType.SUMMARIZE].model_copy(
        update={"per_hour_usd": Decimal(100), "per_day_usd": Decimal(100)}
    )
    return api_settings.model_copy(update={"tasks": tasks})


async def test_a_tenant_budget_for_five_leaves_the_other_tenant_alone(
    client: httpx.AsyncClient,
    make_key: MakeKey,
    clean_db: Engine,
    sessions: SessionFactory,
    budget_settings: Settings,
) -> None:
    admin = bearer(make_key("ops", scopes=["admin"]))
    key_a, key_b = bearer(make_key("tenant-a")), bearer(make_key("tenant-b"))
    put = await client.put(
        f"{LIMITS}/tenant-a/summarize/30m", json={"usd": str(BUDGET)}, headers=admin
    )
    assert put.status_code == 200, put.text
    assert put.json()["window"] == "30m"

    async def submit(key: dict[str, str], share: str) -> httpx.Response:
        body = {"share_id": share, "task": "summarize", "input": {"text": TEXT}}
        return await client.post("/api/ml/jobs", json=body, headers=key)

    answers = await asyncio.gather(
        *(
            submit(key, f"{name}-{i}")
            for i in range(JOBS)
            for name, key in (("a", key_a), ("b", key_b))
        )
    )
    assert [r.status_code for r in answers] == [202] * (2 * JOBS)
    with clean_db.connect() as conn:
        messages = [
            dict(row.kwargs)
            for row in conn.execute(text("SELECT kwargs FROM ml_outbox WHERE kind = 'task'"))
        ]
    assert len(messages) == 2 * JOBS

    dispositions = await asyncio.to_thread(_run_all, budget_settings, sessions, clean_db, messages)
    assert sorted(set(dispositions)) == ["budget_exceeded", "done"]

    now = datetime.now(UTC)
    with clean_db.connect() as conn:
        jobs = conn.execute(
            text(
                "SELECT tenant_id, status, retry_after, error_message FROM ml_jobs "
                "ORDER BY tenant_id"
            )
        ).all()
        costs = dict(
            conn.execute(text("SELECT tenant_id, count(*) FROM ml_costs GROUP BY tenant_id")).all()
        )
        spent = {
            row.tenant_id: Decimal(row.usd)
            for row in conn.execute(
                text("SELECT tenant_id, sum(usd) AS usd FROM ml_costs GROUP BY tenant_id")
            )
        }
        reservations = conn.execute(
            text("SELECT tenant_id, status, count(*) FROM ml_budget_reservations GROUP BY 1, 2")
        ).all()
    a = [j for j in jobs if j.tenant_id == "tenant-a"]
    b = [j for j in jobs if j.tenant_id == "tenant-b"]
    assert sum(j.status == "done" for j in a) == FITS
    refused = [j for j in a if j.status == "budget_exceeded"]
    assert len(refused) == JOBS - FITS
    for job in refused:  # A's own 30-minute window refused, not the platform's hour or day
        assert "tenant tenant-a's summarize budget" in job.error_message
        assert "per 30m" in job.error_message
        assert now + timedelta(minutes=25) < job.retry_after <= now + timedelta(minutes=31)
    assert [j.status for j in b] == ["done"] * JOBS
    assert costs == {"tenant-a": FITS, "tenant-b": JOBS}
    assert sorted(tuple(r) for r in reservations) == [
        ("tenant-a", "settled", FITS),
        ("tenant-b", "settled", JOBS),
    ]
    assert spent["tenant-a"] <= BUDGET

    # A's key sees A's spend only, and cannot ask for B's.
    mine = (await client.get(COSTS, params={"refresh": "true"}, headers=key_a)).json()
    assert mine["tenant_id"] == "tenant-a"
    assert Decimal(mine["total_usd"]) == spent["tenant-a"]
    assert [p["jobs"] for p in mine["performance"]] == [JOBS]
    assert mine["performance"][0]["budget_exceeded"] == JOBS - FITS
    for path in (COSTS, BUDGETS):
        other = await client.get(path, params={"tenant": "tenant-b"}, headers=key_a)
        assert other.status_code == 403
        assert other.headers["content-type"] == "application/problem+json"
        assert other.json()["code"] == "forbidden"
    windows_a = (await client.get(BUDGETS, headers=key_a)).json()["windows"]
    assert [(w["tenant_id"], w["task"], w["window"]) for w in windows_a] == [
        ("tenant-a", "summarize", "30m")
    ]
    assert Decimal(windows_a[0]["spent_usd"]) == spent["tenant-a"]
    assert Decimal(windows_a[0]["reserved_usd"]) == 0
    assert (await client.get(BUDGETS, headers=key_b)).json()["windows"] == []
    theirs = (await client.get(COSTS, headers=key_b)).json()
    assert Decimal(theirs["total_usd"]) == spent["tenant-b"]

    # The admin key sees the platform: both tenants' spend, the global windows, A's window.
    platform = (await client.get(COSTS, headers=admin)).json()
    assert platform["tenant_id"] is None
    assert Decimal(platform["total_usd"]) == spent["tenant-a"] + spent["tenant-b"]
    assert [p["jobs"] for p in platform["performance"]] == [2 * JOBS]
    only_b = (await client.get(COSTS, params={"tenant": "tenant-b"}, headers=admin)).json()
    assert Decimal(only_b["total_usd"]) == spent["tenant-b"]
    windows = (await client.get(BUDGETS, params={"task": "summarize"}, headers=admin)).json()
    by_scope = {(w["tenant_id"], w["window"]): w for w in windows["windows"]}
    assert set(by_scope) == {(None, "hour"), (None, "day"), ("tenant-a", "30m")}
    assert Decimal(by_scope[(None, "hour")]["spent_usd"]) == sum(spent.values())
    assert Decimal(by_scope[("tenant-a", "30m")]["spent_usd"]) == spent["tenant-a"]


async def test_budget_windows_are_admin_only(client: httpx.AsyncClient, make_key: MakeKey) -> None:
    admin, tenant = bearer(make_key("ops", scopes=["admin"])), bearer(make_key("tenant-a"))
    url = f"{LIMITS}/tenant-a/transcribe/1h"
    for method, path in (("PUT", url), ("DELETE", url), ("GET", LIMITS), ("GET", f"{LIMITS}/x")):
        denied = await client.request(method, path, json={"usd": "1"}, headers=tenant)
        assert denied.status_code == 403, (method, path)
        assert denied.headers["content-type"] == "application/problem+json"
        assert denied.json()["code"] == "forbidden"

    assert (await client.put(url, json={"usd": "1.5"}, headers=admin)).status_code == 200
    again = await client.put(f"{LIMITS}/tenant-a/transcribe/3600", json={"usd": "2"}, headers=admin)
    assert Decimal(again.json()["usd"]) == 2  # 3600 s is 1h: changed, not added
    await client.put(f"{LIMITS}/tenant-a/embed/1d", json={"usd": "0"}, headers=admin)
    await client.put(f"{LIMITS}/tenant-b/embed/7d", json={"usd": "3"}, headers=admin)
    listed = (await client.get(f"{LIMITS}/tenant-a", headers=admin)).json()["limits"]
    assert [(x["task"], x["window"], x["window_s"], Decimal(x["usd"])) for x in listed] == [
        ("embed", "day", 86400, Decimal(0)),
        ("transcribe", "hour", 3600, Decimal(2)),
    ]
    every = (await client.get(LIMITS, headers=admin)).json()["limits"]
    assert [x["tenant_id"] for x in every] == ["tenant-a", "tenant-a", "tenant-b"]

    for bad_path, body in (
        (f"{LIMITS}/tenant-a/transcribe/2x", {"usd": "1"}),
        (f"{LIMITS}/tenant-a/enrich/1h", {"usd": "1"}),
        (f"{LIMITS}/tenant-a/transcribe/0", {"usd": "1"}),
        (url, {"usd": "-1"}),
        (url, {"usd": "1", "extra": True}),
        (url, {"usd": "NaN"}),
        (f"{LIMITS}/a%00b/transcribe/1h", {"usd": "1"}),
    ):
        bad = await client.put(bad_path, json=body, headers=admin)
        assert bad.status_code == 422, (bad_path, body, bad.text)

    nul = await client.get(COSTS, params={"tenant": "a\x00b"}, headers=admin)
    assert nul.status_code == 422
    assert (await client.delete(url, headers=admin)).status_code == 204
    gone = await client.delete(url, headers=admin)
    assert gone.status_code == 404
    assert (await client.delete(f"{LIMITS}/tenant-a", headers=admin)).status_code == 204
    assert (await client.get(f"{LIMITS}/tenant-a", headers=admin)).json()["limits"] == []
    assert len((await client.get(LIMITS, headers=admin)).json()["limits"]) == 1


async def test_cli_admin_keys_and_tenant_budgets(
    client: httpx.AsyncClient,
    api_settings: Settings,
    clean_db: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``keys create --admin`` makes a key the API treats as admin; ``budgets`` manages
    the same windows the API does."""
    monkeypatch.setenv("BOOKMARKAI_ML_DATABASE_URL", str(api_settings.database_url))
    monkeypatch.setenv("BOOKMARKAI_ML_DATA_DIR", str(api_settings.data_dir))
    monkeypatch.setenv("BOOKMARKAI_ML_ENVIRONMENT", api_settings.environment)
    monkeypatch.setenv("BOOKMARKAI_ML_SECRET_KEY", api_settings.secret_key.get_secret_value())
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps at 80 columns without a terminal
    runner = CliRunner()

    def cli_json(*args: str) -> Any:
        result = runner.invoke(cli, [*args, "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    admin = cli_json("keys", "create", "--tenant", "ops", "--admin")
    plain = cli_json("keys", "create", "--tenant", "tenant-a")
    assert (admin["scopes"], plain["scopes"]) == (["admin"], [])
    listed = {k["tenant_id"]: k["scopes"] for k in cli_json("keys", "list")}
    assert listed == {"ops": ["admin"], "tenant-a": []}
    table = runner.invoke(cli, ["keys", "list"])
    assert "admin" in table.stdout

    made = cli_json(
        *["budgets", "set", "--tenant", "tenant-a", "--task", "summarize", "--window", "1d"],
        "--usd",
        "0.25",
    )
    assert (made["window"], made["window_s"]) == ("day", 86400)
    assert Decimal(made["usd"]) == Decimal("0.25")
    cli_json(
        *[
            "budgets",
            "set",
            "--tenant",
            "tenant-b",
            "--task",
            "embed",
            "--window",
            "600",
            "--usd",
            "1",
        ]
    )
    assert [b["tenant_id"] for b in cli_json("budgets", "list")] == ["tenant-a", "tenant-b"]
    assert [b["window"] for b in cli_json("budgets", "list", "--tenant", "tenant-b")] == ["10m"]
    bad = runner.invoke(
        cli, ["budgets", "set", "--tenant", "t", "--task", "embed", "--window", "1w", "--usd", "1"]
    )
    assert bad.exit_code == 2
    assert "window" in bad.output

    seen = await client.get(f"{LIMITS}/tenant-a", headers=bearer(admin["key"]))
    assert seen.status_code == 200, seen.text
    assert [x["window"] for x in seen.json()["limits"]] == ["day"]
    denied = await client.get(f"{LIMITS}/tenant-a", headers=bearer(plain["key"]))
    assert denied.status_code == 403
    mine = await client.get(BUDGETS, headers=bearer(plain["key"]))
    assert [(w["tenant_id"], w["window"]) for w in mine.json()["windows"]] == [("tenant-a", "day")]

    costs = runner.invoke(cli, ["costs"])
    assert costs.exit_code == 0, costs.output
    assert "tenant-a" in costs.stdout
    assert "tenant-b" in costs.stdout
    only_a = cli_json("costs", "--tenant", "tenant-a")
    assert only_a["costs"]["tenant_id"] == "tenant-a"
    assert {(b["tenant_id"], b["window"]) for b in only_a["budgets"]} >= {("tenant-a", "day")}
    assert all(b["tenant_id"] in (None, "tenant-a") for b in only_a["budgets"])
    assert cli_json("budgets", "clear", "--tenant", "tenant-a") == {"removed": 1}
    assert cli_json("budgets", "clear", "--tenant", "tenant-b", "--window", "10m") == {"removed": 1}
    assert cli_json("budgets", "list") == []
