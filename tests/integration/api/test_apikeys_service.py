"""``services.apikeys`` on real Postgres: create, list, revoke (by id or prefix), verify."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, ScalarResult, text

from bookmarkai_ml.db.engine import SessionFactory, transaction
from bookmarkai_ml.errors import AuthError, InvalidInputError, NotFoundError
from bookmarkai_ml.services import apikeys

pytestmark = pytest.mark.integration

PEPPER = SecretStr("test-pepper")


def test_lifecycle(sessions: SessionFactory, clean_db: Engine) -> None:
    with transaction(sessions) as s:
        created = apikeys.create(
            s, tenant_id="acme", name="ci", pepper=PEPPER, rate_limit_per_minute=30
        )
        other = apikeys.create(s, tenant_id="beta", name="ci", pepper=PEPPER)
    assert created.key.startswith(apikeys.KEY_PREFIX)
    assert created.key.startswith(created.info.prefix)
    with clean_db.connect() as conn:  # only the peppered hash is stored
        rows: ScalarResult[str] = conn.execute(text("SELECT key_hash FROM ml_api_keys")).scalars()
        hashes: set[str] = set(rows)
    assert created.key not in hashes
    assert apikeys.hash_key(created.key, pepper=PEPPER) in hashes

    with transaction(sessions) as s:
        info = apikeys.verify(s, created.key, pepper=PEPPER)
    assert (info.tenant_id, info.rate_limit_per_minute) == ("acme", 30)
    with transaction(sessions) as s:
        assert [k.tenant_id for k in apikeys.list_keys(s, tenant_id="beta")] == ["beta"]
        assert apikeys.list_keys(s, tenant_id="acme")[0].last_used_at is not None

    with transaction(sessions) as s, pytest.raises(AuthError):
        apikeys.verify(s, created.key, pepper=SecretStr("another-pepper"))
    with transaction(sessions) as s:
        revoked = apikeys.revoke(s, created.info.prefix)
        again = apikeys.revoke(s, str(created.info.id))
    assert revoked.revoked
    assert again.revoked_at == revoked.revoked_at
    with transaction(sessions) as s, pytest.raises(AuthError):
        apikeys.verify(s, created.key, pepper=PEPPER)
    with transaction(sessions) as s:
        assert apikeys.verify(s, other.key, pepper=PEPPER).tenant_id == "beta"
        assert [k.tenant_id for k in apikeys.list_keys(s, include_revoked=False)] == ["beta"]


def test_errors(sessions: SessionFactory, clean_db: Engine) -> None:
    with transaction(sessions) as s, pytest.raises(NotFoundError):
        apikeys.revoke(s, "bkml_nothing")
    with transaction(sessions) as s, pytest.raises(InvalidInputError):
        apikeys.create(s, tenant_id="", name="x", pepper=PEPPER)
    with transaction(sessions) as s, pytest.raises(InvalidInputError):
        apikeys.create(s, tenant_id="t", name="x", pepper=PEPPER, rate_limit_per_minute=0)
    with transaction(sessions) as s, pytest.raises(AuthError):
        apikeys.verify(s, "no-prefix", pepper=PEPPER)
