"""API-key authentication: ``Authorization: Bearer <key>`` -> the caller's tenant.

Keys are verified by ``services.apikeys`` (HMAC lookup, revoked keys refused), then
the key's token bucket is charged, so a flood of requests with a valid key is cut
off at 429 while bad keys are cut off at 401. With ``api.require_auth`` off (local
development only) every caller is the ``default`` tenant, with the ``admin`` scope.
A key's tenant owns everything it touches; the ``admin`` scope adds the whole
platform's analytics and the budget admin routes (``require_admin``, 403 otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bookmarkai_ml.api.context import ApiContext
from bookmarkai_ml.db.engine import transaction
from bookmarkai_ml.errors import AuthError, ForbiddenError
from bookmarkai_ml.services import apikeys

#: Declares the scheme in OpenAPI (the /docs "Authorize" button); we do the checking.
bearer_scheme = HTTPBearer(
    auto_error=False, description="An API key from `bookmarkai-ml keys create`."
)

ANONYMOUS_TENANT = "default"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key and the tenant that owns everything it touches."""

    key_id: str
    tenant_id: str
    rate_limit_per_minute: int | None = None
    scopes: frozenset[str] = frozenset()

    @property
    def admin(self) -> bool:
        return apikeys.ADMIN in self.scopes

    def tenant_scope(self, requested: str | None) -> str | None:
        """The tenant whose data an analytics answer covers: ``None`` is the whole
        platform (an admin who names no tenant); a tenant key only ever gets its own.

        Raises:
            ForbiddenError: a tenant key asked for another tenant.
        """
        if self.admin:
            return requested
        if requested is not None and requested != self.tenant_id:
            raise ForbiddenError("this key sees only its own tenant; ?tenant= needs 'admin'")
        return self.tenant_id


def _context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    """The caller's principal, after the rate limit is charged.

    Raises:
        AuthError: missing, malformed, unknown or revoked key (401).
        DatabaseUnavailableError: the key store is unreachable (503; fails closed).
        RateLimitedError: the key's bucket is empty (429).
    """
    ctx = _context(request)
    if not ctx.settings.api.require_auth:
        principal = Principal(
            key_id="anonymous", tenant_id=ANONYMOUS_TENANT, scopes=frozenset({apikeys.ADMIN})
        )
    elif credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthError("missing API key: send 'Authorization: Bearer <key>'")
    else:
        with transaction(ctx.sessions) as session:
            info = apikeys.verify(session, credentials.credentials, pepper=ctx.settings.secret_key)
        principal = Principal(
            key_id=str(info.id),
            tenant_id=info.tenant_id,
            rate_limit_per_minute=info.rate_limit_per_minute,
            scopes=frozenset(info.scopes),
        )
    ctx.limiter.check(principal.key_id, per_minute=principal.rate_limit_per_minute)
    return principal


def require_admin(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
    """The caller, if its key has the ``admin`` scope.

    Raises:
        ForbiddenError: a valid key without ``admin`` (403).
    """
    if not principal.admin:
        raise ForbiddenError("this operation needs a key with the 'admin' scope")
    return principal
