"""Erasure on the real Postgres: what one call removes, what it keeps, and the tombstone's
guards on every path a worker, a replay or a retry could take afterwards.

The share has a done summarize job (result and completion event carry the marker), a
done embed job (vectors), a running transcribe job (its media URL names the marker, a
kept media object), a job-less task message (a replayed dead letter), a dead letter and a
webhook delivery; another share and the same share id of another tenant must not change.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from uuid import UUID

import numpy as np
import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from bookmarkai_ml.cli.main import app as cli
from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import (
    EmbedResult,
    EmbedTask,
    SummarizeTask,
    SummaryResult,
    TranscribeTask,
)
from bookmarkai_ml.db import embeddings, jobs
from bookmarkai_ml.db.engine import SessionFactory, transaction
from bookmarkai_ml.db.jobs import PostgresJobRepository
from bookmarkai_ml.db.models import DeadLetter, Webhook
from bookmarkai_ml.domain.chunking import Chunk
from bookmarkai_ml.domain.media_keys import source_key
from bookmarkai_ml.errors import ConflictError
from bookmarkai_ml.media.storage import LocalMediaStore
from bookmarkai_ml.messaging import dlq
from bookmarkai_ml.ports import CostLine, TaskOutcome
from bookmarkai_ml.services.erasure import ErasureService

pytestmark = pytest.mark.integration

MARKER = "zebracorn-4471"
T, S = "tenant-e", "share-e"
TABLES = (
    "ml_jobs",
    "ml_results",
    "ml_outbox",
    "ml_costs",
    "ml_embeddings",
    "ml_dead_letters",
    "ml_webhook_deliveries",
    "ml_webhook_attempts",
    "ml_erasures",
)


def _text(n: int) -> str:
    return " ".join(f"Sentence {i} mentions {MARKER} and the Celery workers." for i in range(n))


def _outcome_summary() -> TaskOutcome:
    result = SummaryResult(
        summary=f"About {MARKER}.", tags=[MARKER], model="extractive", provider="local"
    )
    return TaskOutcome(result=result, cost=CostLine(provider="local", model="extractive"))


def _outcome_embed() -> TaskOutcome:
    result = EmbedResult(model="m", dimension=3, chunks=1, tokens=4, provider="local")
    return TaskOutcome(result=result, cost=CostLine(provider="local", model="m"))


def _store_vectors(sessions: SessionFactory, job_id: UUID, share: str = S) -> int:
    with transaction(sessions) as session:
        return embeddings.replace_share(
            session,
            tenant_id=T,
            share_id=share,
            model="m",
            vectors=np.ones((1, 3), dtype=np.float32),
            chunks=[Chunk(index=0, text=f"chunk about {MARKER}", tokens=4)],
            job_id=job_id,
        )


def _run(repo: PostgresJobRepository, message: SummarizeTask | EmbedTask, out: TaskOutcome) -> UUID:
    job_id, attempts = repo.claim(message, owner="w1")
    assert job_id is not None
    assert attempts == 1
    assert repo.finish(job_id, owner="w1", outcome=out, duration_ms=5)
    return job_id


def _dump(engine: Engine) -> str:
    with engine.connect() as conn:
        return "\n".join(
            json.dumps([list(map(str, r)) for r in conn.execute(text(f"SELECT * FROM {t}"))])
            for t in TABLES
        )


@pytest.fixture
def world(clean_db: Engine, sessions: SessionFactory, tmp_path: Path) -> dict[str, object]:
    """The share of the module docstring, and its neighbours."""
    repo = PostgresJobRepository(sessions, lease_s=60)
    store = LocalMediaStore(tmp_path / "media")
    with transaction(sessions) as session:
        session.add(
            Webhook(id=uuid.uuid4(), tenant_id=T, url="https://hooks.example/x", secret="s")
        )
        summarize = jobs.submit(session, SummarizeTask(tenant_id=T, share_id=S, content=_text(3)))
        embed = jobs.submit(session, EmbedTask(tenant_id=T, share_id=S, content=_text(1)))
        url = f"https://cdn.example/{MARKER}.mp4"
        transcribe = jobs.submit(session, TranscribeTask(tenant_id=T, share_id=S, media_url=url))
        other = jobs.submit(session, SummarizeTask(tenant_id=T, share_id="other", content="Kept."))
        twin = jobs.submit(session, SummarizeTask(tenant_id="tenant-x", share_id=S, content="Kept"))
        jobs.enqueue(
            session,
            job_id=None,
            task="summarize",
            kwargs={"tenant_id": T, "share_id": S, "content": _text(1)},
        )
    s_msg = SummarizeTask(tenant_id=T, share_id=S, content=_text(3), job_id=summarize.job.id)
    _run(repo, s_msg, _outcome_summary())
    e_msg = EmbedTask(tenant_id=T, share_id=S, content=_text(1), job_id=embed.job.id)
    job_id, _ = repo.claim(e_msg, owner="w1")
    assert job_id is not None
    assert _store_vectors(sessions, job_id) == 1
    assert repo.finish(job_id, owner="w1", outcome=_outcome_embed(), duration_ms=5)
    t_msg = TranscribeTask(tenant_id=T, share_id=S, media_url=url, job_id=transcribe.job.id)
    assert repo.claim(t_msg, owner="w2")[1] == 1  # running while the share is erased
    kept = tmp_path / "clip.mp4"
    kept.write_bytes(b"media of " + MARKER.encode())
    store.put(source_key(T, S, str(transcribe.job.id)), kept)
    store.put(source_key(T, "other", str(other.job.id)), kept)
    with transaction(sessions) as session:
        body = json.dumps([[], t_msg.model_dump(mode="json"), {}])
        session.add(
            DeadLetter(
                queue="ml.transcribe",
                reason=f"contract_violation: content {MARKER}",
                job_id=None,
                task_name="transcribe_media",
                message_id="dead-1",
                body=body.replace(str(transcribe.job.id), ""),
                headers={"kwargsrepr": MARKER, "id": "dead-1"},
            )
        )
    return {
        "repo": repo,
        "store": store,
        "transcribe": t_msg,
        "summarize": s_msg,
        "other": other.job.id,
        "twin": twin.job.id,
    }


def test_erasure_removes_the_content_and_keeps_the_rest(
    world: dict[str, object], sessions: SessionFactory, clean_db: Engine, tmp_path: Path
) -> None:
    store = world["store"]
    assert isinstance(store, LocalMediaStore)
    assert MARKER in _dump(clean_db)

    done = ErasureService(sessions, store).forget(tenant_id=T, share_id=S)

    removed = done.removed
    assert removed["jobs_cancelled"] == 1  # the running transcription
    assert removed["jobs_blanked"] == 3
    assert removed["results"] == 2
    assert removed["embeddings"] == 1
    assert removed["outbox_dropped"] == 4  # 3 task messages (no relay ran) + the job-less one
    assert removed["dead_letters_blanked"] == 1
    assert removed["webhook_deliveries_blanked"] >= 3  # done, done, cancelled events
    assert removed["media_objects"] == 1
    assert MARKER not in _dump(clean_db)
    assert not [p for p in (store.root / T / S).rglob("*") if p.is_file()]
    assert (store.root / T / "other").is_dir()
    with clean_db.connect() as conn:
        statuses = dict(
            conn.execute(
                text("SELECT task, status FROM ml_jobs WHERE share_id = :s AND tenant_id = :t"),
                {"s": S, "t": T},
            ).all()
        )
        assert statuses == {"summarize": "done", "embed": "done", "transcribe": "cancelled"}
        assert conn.execute(text("SELECT count(*) FROM ml_costs")).scalar() == 2
        tomb = conn.execute(text("SELECT removed FROM ml_erasures")).one()[0]
        assert tomb == removed
        kept = conn.execute(
            text("SELECT count(*) FROM ml_jobs WHERE id = ANY(:ids) AND payload->>'content' <> ''"),
            {"ids": [world["other"], world["twin"]]},
        ).scalar()
        assert kept == 2


def test_the_tombstone_stops_every_later_write_and_replay(
    world: dict[str, object], sessions: SessionFactory, clean_db: Engine
) -> None:
    repo, store = world["repo"], world["store"]
    assert isinstance(repo, PostgresJobRepository)
    assert isinstance(store, LocalMediaStore)
    t_msg = world["transcribe"]
    assert isinstance(t_msg, TranscribeTask)
    assert t_msg.job_id is not None
    ErasureService(sessions, store).forget(tenant_id=T, share_id=S)

    # The running worker finishes: refused (the job is cancelled), so nothing is written.
    assert not repo.finish(t_msg.job_id, owner="w2", outcome=_outcome_embed(), duration_ms=1)
    # A redelivery of its message, and the same message with no job id (as a producer
    # publishing straight to the queue would send it): both dropped, no job adopted.
    assert repo.claim(t_msg, owner="w3") == (t_msg.job_id, None)
    assert repo.claim(t_msg.model_copy(update={"job_id": None}), owner="w3") == (None, None)
    with pytest.raises(ConflictError, match="erased"), transaction(sessions) as session:
        jobs.retry(session, t_msg.job_id)
    with transaction(sessions) as session:
        dead_ids = dlq.all_ids(session)
        assert [v.split(":")[0] for v in dlq.replay(session, dead_ids).values()] == ["dropped"]
    with clean_db.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM ml_jobs WHERE share_id = :s"), {"s": S}
            ).scalar()
            == 4
        )  # fmt: skip  (3 + the other tenant's)
        assert conn.execute(text("SELECT count(*) FROM ml_embeddings")).scalar() == 0
        unsent = "SELECT count(*) FROM ml_outbox WHERE sent_at IS NULL AND kind = 'task'"
        before = conn.execute(text(unsent)).scalar()

    # The user saves the item again: a new submission of the same input is a new job
    # (not a duplicate of the blanked one), and it runs.
    s_msg = world["summarize"]
    assert isinstance(s_msg, SummarizeTask)
    with transaction(sessions) as session:
        again = jobs.submit(session, s_msg.model_copy(update={"job_id": None}))
    assert again.created
    assert again.job.id != s_msg.job_id
    fresh = s_msg.model_copy(update={"job_id": again.job.id})
    assert _run(repo, fresh, _outcome_summary()) == again.job.id
    with clean_db.connect() as conn:
        assert conn.execute(text(unsent)).scalar() == (before or 0) + 1


def test_forget_prints_what_it_removed(
    world: dict[str, object], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = world["store"]
    assert isinstance(store, LocalMediaStore)
    monkeypatch.setenv("BOOKMARKAI_ML_DATABASE_URL", str(settings.database_url))
    monkeypatch.setenv("BOOKMARKAI_ML_DATA_DIR", str(store.root.parent / "data"))
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()

    as_json = runner.invoke(cli, ["forget", S, "--tenant", T, "--json"])
    assert as_json.exit_code == 0, as_json.output
    printed = json.loads(as_json.stdout)
    assert printed["share_id"] == S
    assert printed["jobs_cancelled"] == 1
    assert printed["results"] == 2
    assert printed["embeddings"] == 1

    again = runner.invoke(cli, ["forget", S, "--tenant", T])
    assert again.exit_code == 0, again.output
    assert f"share {S} (tenant {T}) erased" in again.stdout
    assert "jobs_cancelled" in again.stdout
    assert "results" in again.stdout
