"""Keyset cursors: a position survives the round trip exactly; anything else is refused."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID, uuid4

import pytest

from bookmarkai_ml.domain.keyset import INVALID_CURSOR, MAX_TOKEN_CHARS, Cursor, decode
from bookmarkai_ml.errors import InvalidInputError


def _token(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def test_a_position_round_trips_to_the_microsecond() -> None:
    cursor = Cursor(datetime(2026, 11, 30, 10, 15, 2, 123456, tzinfo=UTC), uuid4())
    token = cursor.encode()
    assert decode(token) == cursor
    assert "=" not in token
    assert len(token) < MAX_TOKEN_CHARS
    assert base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).startswith(b"v1|")


def test_another_offset_is_the_same_instant_in_utc() -> None:
    local = datetime(2026, 11, 30, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    decoded = decode(Cursor(local, UUID(int=7)).encode())
    assert decoded.created_at == local
    assert decoded.created_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "!!!",
        "x" * (MAX_TOKEN_CHARS + 1),
        _token(f"v2|2026-01-01T00:00:00+00:00|{UUID(int=1)}"),
        _token(f"v1|2026-01-01T00:00:00|{UUID(int=1)}"),  # no offset
        _token("v1|2026-01-01T00:00:00+00:00|not-a-uuid"),
        _token(f"v1|yesterday|{UUID(int=1)}"),
        _token(f"v1|0001-01-01T00:00:00+01:00|{UUID(int=1)}"),  # before year 1 in UTC
        _token(f"v1|2026-01-01T00:00:00+00:00|{UUID(int=1)}|extra"),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_a_token_not_made_here_is_invalid_input(token: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        decode(token)
    assert caught.value.code == INVALID_CURSOR
