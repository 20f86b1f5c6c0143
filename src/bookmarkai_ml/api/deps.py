"""Typed dependencies: routes declare what they need as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from bookmarkai_ml.api.auth import Principal, authenticate, require_admin
from bookmarkai_ml.api.context import ApiContext
from bookmarkai_ml.config import Settings
from bookmarkai_ml.db.engine import transaction
from bookmarkai_ml.ports import Embedder
from bookmarkai_ml.services.search import SearchService


async def get_context(request: Request) -> ApiContext:
    # async: no I/O here, so no hop to the thread pool (one of several per request).
    ctx: ApiContext = request.app.state.ctx
    return ctx


ContextDep = Annotated[ApiContext, Depends(get_context)]


def get_settings(ctx: ContextDep) -> Settings:
    return ctx.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_session(ctx: ContextDep) -> Iterator[Session]:
    """One transaction per request; it commits before the response is sent.

    A lost database (at connect, in the route, or at commit) becomes
    ``DatabaseUnavailableError``, a 503 problem, never a 500.
    """
    with transaction(ctx.sessions) as session:
        yield session


# scope="function": the transaction ends when the route returns, before the response
# goes out, so a failed commit becomes an error response rather than a false 202.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]

PrincipalDep = Annotated[Principal, Depends(authenticate)]
#: The caller, refused with 403 unless its key has the ``admin`` scope.
AdminDep = Annotated[Principal, Depends(require_admin)]


def get_embedder(ctx: ContextDep) -> Embedder:
    return ctx.embedder.get()


EmbedderDep = Annotated[Embedder, Depends(get_embedder)]


def get_search(ctx: ContextDep) -> SearchService:
    return ctx.search.get()


SearchDep = Annotated[SearchService, Depends(get_search)]
