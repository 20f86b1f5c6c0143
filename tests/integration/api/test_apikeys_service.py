"""``services.apikeys`` on real Postgres: create, list, revoke (by id or prefix), verify."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, ScalarResult, event, text

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


def test_use_is_recorded_at_most_once_a_minute(sessions: SessionFactory, clean_db: Engine) -> None:
    """The first verify records the use; the next ones within the minute send no UPDATE at
    all (a round trip saved per request); once the recorded use is older than a minute, it
    is recorded again."""
    with transaction(sessions) as s:
        created = apikeys.create(s, tenant_id="acme", name="ci", pepper=PEPPER)
    engine = sessions.kw["bind"]
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    def last_used() -> object:
        with clean_db.connect() as conn:
            return conn.execute(text("SELECT last_used_at FROM ml_api_keys")).scalar_one()

    def verify() -> list[str]:
        statements.clear()
        event.listen(engine, "before_cursor_execute", seen)
        try:
            with transaction(sessions) as s:
                apikeys.verify(s, created.key, pepper=PEPPER)
        finally:
            event.remove(engine, "before_cursor_execute", seen)
        return [q for q in statements if q.lstrip().upper().startswith("UPDATE")]

    assert len(verify()) == 1
    first = last_used()
    assert first is not None
    for _ in range(3):
        assert verify() == []
    assert last_used() == first
    with clean_db.begin() as conn:
        conn.execute(text("UPDATE ml_api_keys SET last_used_at = now() - interval '2 minutes'"))
    assert len(verify()) == 1
    later = last_used()
    assert later is not None
    assert later > first  # type: ignore[operator]
