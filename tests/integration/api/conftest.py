"""API fixtures: the app on the session's Postgres, driven in-process over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from bookmarkai_ml.api import create_app
from bookmarkai_ml.config import Settings
from bookmarkai_ml.db.engine import SessionFactory, transaction
from bookmarkai_ml.services import apikeys
from support.api import MakeKey

pytestmark = pytest.mark.integration


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    """Test settings with a small body limit; the rate limit stays generous."""
    return settings.model_copy(
        update={"api": settings.api.model_copy(update={"max_body_bytes": 64 * 1024})}
    )


@pytest.fixture
def app(api_settings: Settings, clean_db: Engine) -> FastAPI:
    return create_app(api_settings, engine=clean_db, background=[])


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as c:
        yield c


@pytest.fixture
def make_key(sessions: SessionFactory, api_settings: Settings) -> MakeKey:
    """Create an API key for a tenant and return the secret."""

    def make(tenant: str = "tenant-a", **kwargs: Any) -> str:
        with transaction(sessions) as session:
            created = apikeys.create(
                session,
                tenant_id=tenant,
                name=f"{tenant}-key",
                pepper=api_settings.secret_key,
                **kwargs,
            )
        return created.key

    return make
