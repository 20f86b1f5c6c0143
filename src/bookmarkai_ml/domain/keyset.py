"""Keyset cursors: a position in a newest-first walk, as an opaque URL-safe token.

A position is the last row's ``(created_at, id)``; the next page is every row strictly
below it in ``ORDER BY created_at DESC, id DESC``. The token is base64url of
``v1|<created_at ISO 8601 with offset>|<uuid>`` with the padding stripped: opaque to
clients (they pass it back verbatim), versioned so its shape can change. Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from bookmarkai_ml.errors import InvalidInputError

_VERSION = "v1"
#: Far more than a valid token needs (about 90 characters); refuses junk before decoding.
MAX_TOKEN_CHARS = 200
#: The ``code`` of the 422 problem for a cursor this server did not make.
INVALID_CURSOR = "invalid_cursor"


@dataclass(frozen=True, slots=True, order=True)
class Cursor:
    """The ``(created_at, id)`` of the last row a page returned; both never change."""

    created_at: datetime
    id: UUID

    def encode(self) -> str:
        """The opaque token for this position."""
        raw = f"{_VERSION}|{self.created_at.isoformat()}|{self.id}"
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(token: str) -> Cursor:
    """The position a token from :meth:`Cursor.encode` names.

    Raises:
        InvalidInputError: code ``invalid_cursor``: not base64url, not a v1 token, a
            timestamp without an offset or out of range, or not a UUID.
    """
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise InvalidInputError("invalid cursor", code=INVALID_CURSOR)
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
        version, stamp, ident = raw.split("|")
        created_at = datetime.fromisoformat(stamp)
        if version != _VERSION or created_at.tzinfo is None:
            raise ValueError(raw)
        # Normalised to UTC here, so an offset at the edge of datetime's range fails now
        # (OverflowError) rather than in the driver.
        return Cursor(created_at=created_at.astimezone(UTC), id=UUID(ident))
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError) as exc:
        message = "invalid cursor: pass back a next_cursor unchanged"
        raise InvalidInputError(message, code=INVALID_CURSOR) from exc
