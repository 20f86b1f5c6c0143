"""API keys: create, list, revoke and verify; only an HMAC of each key is stored.

A key is shown once, at creation. The database keeps ``HMAC-SHA256(secret_key, key)``
(the settings' ``secret_key`` is the pepper), so a leaked table alone cannot be
turned back into working keys, and verification is a lookup on the unique hash.
Every key belongs to one tenant; the API scopes all job access to that tenant. A key
with the ``admin`` scope also sees the whole platform's analytics and manages the
per-tenant budgets.
The caller owns the transaction (``db.engine.transaction``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import SecretStr
from sqlalchemy import func, or_, select, text, update
from sqlalchemy.orm import Session

from bookmarkai_ml.db.models import ApiKey
from bookmarkai_ml.errors import AuthError, ConflictError, InvalidInputError, NotFoundError

#: Every key starts with this, so a leaked key is recognisable (secret scanners).
KEY_PREFIX = "bkml_"
_PREFIX_CHARS = 12  # "bkml_" + 7 random chars: enough to tell keys apart in listings
#: ``last_used_at`` is written at most this often per key, not on every request.
_TOUCH_INTERVAL_S = 60
#: ``admin``: the whole platform's costs and budgets, and the budget admin routes.
ADMIN = "admin"
SCOPES = frozenset({ADMIN})


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """A stored key, without its secret."""

    id: uuid.UUID
    tenant_id: str
    name: str
    prefix: str
    rate_limit_per_minute: int | None
    scopes: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def admin(self) -> bool:
        return ADMIN in self.scopes

    @classmethod
    def of(cls, row: ApiKey) -> ApiKeyInfo:
        return cls(
            id=row.id,
            tenant_id=row.tenant_id,
            name=row.name,
            prefix=row.prefix,
            rate_limit_per_minute=row.rate_limit_per_minute,
            scopes=tuple(row.scopes or ()),
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
        )


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """A new key: ``key`` is the only copy of the secret; show it once."""

    info: ApiKeyInfo
    key: str


def hash_key(key: str, *, pepper: SecretStr) -> str:
    """The stored form of ``key``: hex HMAC-SHA256 peppered with the settings' secret."""
    digest = hmac.new(pepper.get_secret_value().encode(), key.encode(), hashlib.sha256)
    return digest.hexdigest()


def create(
    session: Session,
    *,
    tenant_id: str,
    name: str,
    pepper: SecretStr,
    rate_limit_per_minute: int | None = None,
    scopes: Sequence[str] = (),
) -> CreatedKey:
    """Make a key for ``tenant_id``; ``rate_limit_per_minute`` overrides the default limit,
    ``scopes`` grants more than the tenant's own data (``admin``).

    Raises:
        InvalidInputError: an empty or over-long tenant or name, a non-positive limit, or
            an unknown scope.
    """
    if not 0 < len(tenant_id) <= 100 or not 0 < len(name) <= 100:
        raise InvalidInputError("tenant and name must be 1-100 characters")
    if rate_limit_per_minute is not None and rate_limit_per_minute <= 0:
        raise InvalidInputError("rate_limit_per_minute must be positive")
    if unknown := set(scopes) - SCOPES:
        raise InvalidInputError(f"unknown scope(s) {sorted(unknown)}: only {sorted(SCOPES)}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        name=name,
        prefix=key[:_PREFIX_CHARS],
        key_hash=hash_key(key, pepper=pepper),
        rate_limit_per_minute=rate_limit_per_minute,
        scopes=sorted(set(scopes)),
    )
    session.add(row)
    session.flush()
    session.refresh(row)
    return CreatedKey(info=ApiKeyInfo.of(row), key=key)


def list_keys(
    session: Session, *, tenant_id: str | None = None, include_revoked: bool = True
) -> list[ApiKeyInfo]:
    """Keys, oldest first, optionally of one tenant and without revoked ones."""
    stmt = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if tenant_id is not None:
        stmt = stmt.where(ApiKey.tenant_id == tenant_id)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    return [ApiKeyInfo.of(row) for row in session.scalars(stmt)]


def _find(session: Session, ref: str) -> ApiKey:
    """The key whose id, or unique display prefix, is ``ref``."""
    try:
        key_id: uuid.UUID | None = uuid.UUID(ref)
    except ValueError:
        key_id = None
    cond = ApiKey.prefix == ref if key_id is None else ApiKey.id == key_id
    rows = list(session.scalars(select(ApiKey).where(cond).with_for_update()))
    if not rows:
        raise NotFoundError(f"no API key {ref!r}")
    if len(rows) > 1:
        raise ConflictError(f"prefix {ref!r} matches {len(rows)} keys; use the key id")
    return rows[0]


def revoke(session: Session, ref: str) -> ApiKeyInfo:
    """Revoke the key with id or prefix ``ref``; revoking twice keeps the first time.

    Raises:
        NotFoundError: no such key.
        ConflictError: the prefix is ambiguous.
    """
    row = _find(session, ref)
    if row.revoked_at is None:
        row.revoked_at = session.execute(select(func.now())).scalar_one()
        session.flush()
    return ApiKeyInfo.of(row)


def verify(session: Session, key: str, *, pepper: SecretStr) -> ApiKeyInfo:
    """The live key matching ``key``; records its use at most once a minute.

    Raises:
        AuthError: unknown or revoked key (one message for both: no oracle).
    """
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        raise AuthError("invalid API key")
    row = session.scalars(
        select(ApiKey).where(ApiKey.key_hash == hash_key(key, pepper=pepper))
    ).one_or_none()
    if row is None or row.revoked_at is not None:
        raise AuthError("invalid API key")
    if not _touch_due(row.last_used_at):
        # Skip the UPDATE's round trip (one of a submission's few): it would match no row.
        return ApiKeyInfo.of(row)
    session.execute(
        update(ApiKey)
        .where(ApiKey.id == row.id)
        .where(
            or_(
                ApiKey.last_used_at.is_(None),
                ApiKey.last_used_at < func.now() - text(f"interval '{_TOUCH_INTERVAL_S} seconds'"),
            )
        )
        .values(last_used_at=func.now())
    )
    return ApiKeyInfo.of(row)


def _touch_due(last_used_at: datetime | None) -> bool:
    """Whether ``last_used_at`` may be older than the touch interval (the UPDATE's own
    condition decides, on the database's clock; this only skips it when it cannot match)."""
    if last_used_at is None:
        return True
    age = datetime.now(UTC) - last_used_at
    return age.total_seconds() >= _TOUCH_INTERVAL_S - 1  # a second's slack for clock skew
