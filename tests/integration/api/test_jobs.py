"""Submitting, reading, cancelling and retrying jobs through the API (real Postgres)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import Engine, text

from bookmarkai_ml.api import create_app
from bookmarkai_ml.config import Settings
from bookmarkai_ml.observability import tracing
from support.api import MakeKey, bearer, counts

pytestmark = pytest.mark.integration

JOBS = "/api/ml/jobs"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def headers(make_key: MakeKey) -> dict[str, str]:
    return bearer(make_key())


async def _submit(
    client: httpx.AsyncClient, headers: dict[str, str], **body: Any
) -> httpx.Response:
    resp = await client.post(JOBS, json=body, headers=headers)
    assert resp.status_code == 202, resp.text
    return resp


async def test_summarize_is_queued_once(
    client: httpx.AsyncClient, headers: dict[str, str], clean_db: Engine
) -> None:
    body = {
        "share_id": "s1",
        "task": "summarize",
        "input": {"text": "An article."},
        "options": {"style": "bullets"},
    }
    first = await _submit(client, {**headers, "traceparent": TRACEPARENT}, **body)
    job = first.json()["jobs"][0]
    assert job["status"] == "queued"
    assert job["task"] == "summarize"
    assert job["created"] is True
    assert first.headers["location"] == f"{JOBS}/{job['id']}"
    again = (await _submit(client, headers, **body)).json()["jobs"][0]
    assert again["id"] == job["id"]
    assert again["created"] is False
    assert counts(clean_db) == (1, 1)
    with clean_db.connect() as conn:
        row = conn.execute(text("SELECT tenant_id, traceparent FROM ml_jobs")).one()
    assert row.tenant_id == "tenant-a"
    assert row.traceparent is not None
    assert row.traceparent.split("-")[1] == TRACEPARENT.split("-")[1]


async def test_enrich_text_is_summarize_and_embed(
    client: httpx.AsyncClient, headers: dict[str, str], clean_db: Engine
) -> None:
    resp = await _submit(
        client,
        headers,
        share_id="s2",
        task="enrich",
        input={"text": "Some words."},
        options={"summarize": {"style": "brief"}},
    )
    assert sorted(j["task"] for j in resp.json()["jobs"]) == ["embed", "summarize"]
    assert counts(clean_db) == (2, 2)


async def test_enrich_media_is_transcribe_then_summarize_and_embed(
    client: httpx.AsyncClient, headers: dict[str, str], clean_db: Engine
) -> None:
    resp = await _submit(
        client,
        headers,
        share_id="s3",
        task="enrich",
        input={"media_url": "https://media.example/talk.mp4"},
    )
    (job,) = resp.json()["jobs"]
    assert job["task"] == "transcribe"
    assert job["then"] == ["summarize", "embed"]
    assert counts(clean_db) == (1, 1)


async def test_get_cancel_retry(
    client: httpx.AsyncClient, headers: dict[str, str], clean_db: Engine
) -> None:
    resp = await _submit(client, headers, share_id="s4", task="embed", input={"text": "vec me"})
    job_id = resp.json()["jobs"][0]["id"]
    got = (await client.get(f"{JOBS}/{job_id}", headers=headers)).json()
    assert got["status"] == "queued"
    assert got["result"] is None
    assert got["error"] is None

    cancelled = await client.post(f"{JOBS}/{job_id}/cancel", headers=headers)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    retried = await client.post(f"{JOBS}/{job_id}/retry", headers=headers)
    assert retried.status_code == 200
    assert retried.json()["status"] == "queued"
    assert counts(clean_db) == (1, 2)  # the retry queued a second outbox row

    conflict = await client.post(f"{JOBS}/{job_id}/retry", headers=headers)
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "conflict"


async def test_failed_job_shows_error_code(
    client: httpx.AsyncClient, headers: dict[str, str], clean_db: Engine
) -> None:
    resp = await _submit(
        client,
        headers,
        share_id="s5",
        task="transcribe",
        input={"media_url": "https://media.example/broken.mp4"},
    )
    job_id = resp.json()["jobs"][0]["id"]
    with clean_db.begin() as conn:
        conn.execute(
            text(
                "UPDATE ml_jobs SET status='failed', error_code='corrupt_media', "
                "error_message='no audio stream', finished_at=now() WHERE id=:id"
            ),
            {"id": job_id},
        )
    got = (await client.get(f"{JOBS}/{job_id}", headers=headers)).json()
    assert got["status"] == "failed"
    assert got["error"] == {"code": "corrupt_media", "message": "no audio stream"}
    done = await client.post(f"{JOBS}/{job_id}/cancel", headers=headers)
    assert done.status_code == 409


async def test_job_carries_the_api_span_as_traceparent(
    api_settings: Settings, clean_db: Engine, make_key: MakeKey
) -> None:
    exporter = InMemorySpanExporter()
    provider = tracing.configure_tracing(
        api_settings.telemetry, exporter=exporter, set_global=False
    )
    app = create_app(api_settings, engine=clean_db, background=[], tracer_provider=provider)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        await _submit(
            client,
            {**bearer(make_key()), "traceparent": TRACEPARENT},
            share_id="t1",
            task="embed",
            input={"text": "trace me"},
        )
    (span,) = [s for s in exporter.get_finished_spans() if s.name == "POST /api/ml/jobs"]
    assert span.context is not None
    assert f"{span.context.trace_id:032x}" == TRACEPARENT.split("-")[1]  # continues the caller
    with clean_db.connect() as conn:
        stored: str = conn.execute(text("SELECT traceparent FROM ml_jobs")).scalar_one()
    assert stored.split("-")[2] == f"{span.context.span_id:016x}"  # the worker's parent: API span
    assert span.attributes is not None
    # opentelemetry-instrumentation-fastapi's default (pre-stable) HTTP conventions, or the
    # stable ones under OTEL_SEMCONV_STABILITY_OPT_IN=http.
    status = span.attributes.get(
        "http.response.status_code", span.attributes.get("http.status_code")
    )
    assert status == 202
    provider.shutdown()
