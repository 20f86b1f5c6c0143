"""Helpers shared by the API integration tests (a plain module: tests are not a package)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine, text

MakeKey = Callable[..., str]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def counts(engine: Engine) -> tuple[int, int]:
    """(jobs, outbox rows) in the database."""
    with engine.connect() as conn:
        jobs: int = conn.execute(text("SELECT count(*) FROM ml_jobs")).scalar_one()
        outbox: int = conn.execute(text("SELECT count(*) FROM ml_outbox")).scalar_one()
    return int(jobs), int(outbox)
