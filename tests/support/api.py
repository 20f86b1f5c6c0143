"""Helpers shared by the API integration tests (imported as ``support.api``)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine, text

from bookmarkai_ml.fakes import FakeEmbedder

MakeKey = Callable[..., str]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def counts(engine: Engine) -> tuple[int, int]:
    """(jobs, outbox rows of task messages) in the database; completion events not counted."""
    with engine.connect() as conn:
        jobs: int = conn.execute(text("SELECT count(*) FROM ml_jobs")).scalar_one()
        outbox: int = conn.execute(
            text("SELECT count(*) FROM ml_outbox WHERE kind = 'task'")
        ).scalar_one()
    return int(jobs), int(outbox)


class HashEmbedder(FakeEmbedder):
    """``fakes.FakeEmbedder`` at 16 dimensions, under the model name the API tests request."""

    def __init__(self) -> None:
        super().__init__(dimension=16)
        self.model = "hash-embed-16"
