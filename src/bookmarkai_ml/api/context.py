"""What the app's routes share: settings, database, rate limiter and optional collaborators.

Built once by ``create_app`` and kept on ``app.state``; routes reach it through the
typed dependencies in ``deps.py``. A collaborator that is ``None`` makes its routes
answer 503 ``not_configured`` instead of failing at import or start-up.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from bookmarkai_ml.api.ratelimit import RateLimiter
from bookmarkai_ml.config import Settings
from bookmarkai_ml.db.engine import SessionFactory
from bookmarkai_ml.errors import ConfigurationError
from bookmarkai_ml.ports import Embedder

#: Builds the embedder on first use: loading a model takes seconds and memory.
EmbedderFactory = Callable[[], Embedder]
#: An async readiness probe of the broker; raises when it is unreachable.
BrokerProbe = Callable[[], Awaitable[None]]


def not_configured(what: str) -> ConfigurationError:
    """The error a route raises when its collaborator is missing (503 ``not_configured``)."""
    return ConfigurationError(
        f"{what} is not configured in this API process", code="not_configured"
    )


@dataclass
class ApiContext:
    """Shared state of one app instance."""

    settings: Settings
    engine: Engine
    sessions: SessionFactory
    limiter: RateLimiter
    embedder_factory: EmbedderFactory | None = None
    broker_probe: BrokerProbe | None = None
    _embedder: Embedder | None = field(default=None, repr=False)
    _embedder_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def embedder(self) -> Embedder:
        """The embedder, built once on first call (thread-safe).

        Raises:
            ConfigurationError: no embedder factory was given (``not_configured``).
        """
        if self._embedder is None:
            if self.embedder_factory is None:
                raise not_configured("the embedding model")
            with self._embedder_lock:
                if self._embedder is None:
                    self._embedder = self.embedder_factory()
        return self._embedder
