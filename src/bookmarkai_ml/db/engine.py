"""Engines and sessions, built from settings by an entry point.

This is the database boundary: SQLAlchemy's connection-level errors are translated here
into ``DatabaseUnavailableError`` (retryable), so no caller catches a driver exception.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker

from bookmarkai_ml.config import Settings
from bookmarkai_ml.db.embedded import embedded_url
from bookmarkai_ml.errors import DatabaseUnavailableError


def database_url(settings: Settings) -> str:
    """The configured URL, or the embedded server's (started if needed)."""
    if settings.database_url:
        url = settings.database_url
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        return url
    return embedded_url(settings.data_dir)


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
    """A pooled engine; ``pool_pre_ping`` turns a dead pooled connection into a reconnect."""
    # Looked up on the module at call time: once tracing is configured, the SQLAlchemy
    # instrumentation has wrapped it, and the engine emits a span per statement.
    return sqlalchemy.create_engine(url, pool_size=pool_size, max_overflow=10, pool_pre_ping=True)


SessionFactory = sessionmaker[Session]


def make_session_factory(engine: Engine) -> SessionFactory:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def translate_db_errors() -> Iterator[None]:
    """Turn a lost or unreachable database into ``DatabaseUnavailableError`` (retryable).

    Raises:
        DatabaseUnavailableError: SQLAlchemy reported a connection-level failure.
    """
    try:
        yield
    except PoolTimeoutError as exc:  # every pooled connection stayed busy: a load problem
        raise DatabaseUnavailableError(f"no database connection free: {exc}") from exc
    except OperationalError as exc:
        raise DatabaseUnavailableError(f"database unavailable: {exc.orig!r}") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise DatabaseUnavailableError(f"database connection lost: {exc.orig!r}") from exc
        raise


@contextmanager
def transaction(factory: SessionFactory) -> Iterator[Session]:
    """A session whose transaction commits on success and rolls back on error.

    Raises:
        DatabaseUnavailableError: the database is unreachable (at begin, during, or at commit).
    """
    with translate_db_errors(), factory() as session, session.begin():
        yield session
