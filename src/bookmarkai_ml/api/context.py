"""What the app's routes share: settings, database, rate limiter and lazily built services.

Built once by ``create_app`` and kept on ``app.state``; routes reach it through the
typed dependencies in ``deps.py``. Heavy collaborators (the embedding model, the
search service and its query embedder) are built on first use, so an API process
that never serves them never loads a model. A collaborator without a builder makes
its routes answer 503 ``not_configured`` instead of failing at import or start-up.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import Engine

from bookmarkai_ml.api.ratelimit import RateLimiter
from bookmarkai_ml.config import Settings
from bookmarkai_ml.db.engine import SessionFactory
from bookmarkai_ml.errors import BookmarkAIError, ConfigurationError
from bookmarkai_ml.messaging.hooks import ConnectionState
from bookmarkai_ml.ports import Embedder
from bookmarkai_ml.services.search import SearchService

T = TypeVar("T")

#: Builds the embedder on first use: loading a model takes seconds and memory.
EmbedderFactory = Callable[[], Embedder]
SearchFactory = Callable[[], SearchService]
#: An async readiness probe of the broker; raises when it is unreachable.
BrokerProbe = Callable[[], Awaitable[None]]


def not_configured(what: str) -> ConfigurationError:
    """The error a route raises when its collaborator is missing (503 ``not_configured``)."""
    message = f"{what} is not configured in this API process"
    return ConfigurationError(message, code="not_configured")


class Lazy(Generic[T]):
    """A value built once, on first ``get()``, by ``build`` (thread-safe).

    ``preload()`` builds it ahead (the API's lifespan does, for the embedder), and
    ``readiness()`` tells ``/readyz`` whether that preload has finished.
    """

    def __init__(self, what: str, build: Callable[[], T] | None) -> None:
        self._what = what
        self._build = build
        self._value: T | None = None
        self._lock = threading.Lock()
        self._preloading = False
        self._error: str | None = None

    def preload(self) -> None:
        """Build the value now (blocking; run it in a thread); a failure is kept, not raised."""
        self._preloading = True
        try:
            self.get()
        except BookmarkAIError as exc:
            self._error = exc.code

    def readiness(self) -> str | None:
        """None unless preloading: then ``ok`` once built, ``loading`` before, else the error."""
        if not self._preloading:
            return None
        if self._value is not None:
            return "ok"
        return self._error or "loading"

    def get(self) -> T:
        """The value.

        Raises:
            ConfigurationError: there is no builder (``not_configured``), or it failed.
        """
        if self._value is None:
            if self._build is None:
                raise not_configured(self._what)
            with self._lock:
                if self._value is None:
                    self._value = self._build()
        return self._value


@dataclass
class ApiContext:
    """Shared state of one app instance."""

    settings: Settings
    engine: Engine
    sessions: SessionFactory
    limiter: RateLimiter
    embedder: Lazy[Embedder]
    search: Lazy[SearchService]
    broker_probe: BrokerProbe | None = None
    #: The connection state of the in-process relay's producer, while that relay runs.
    publisher_state: Callable[[], ConnectionState] | None = None
