"""Query parameter types that accept exactly what the OpenAPI schema says.

Pydantic's lax mode reads ``until=0`` as 1970-01-01 (a Unix time); the schema says
``format: date``, so a client that sends a number has a bug we should tell it about.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator


def _iso_text(value: Any) -> Any:
    """Refuse numbers (and numeric strings) where an ISO 8601 date or date-time is due."""
    if isinstance(value, (date, datetime)):
        return value
    if not isinstance(value, str) or value.strip().lstrip("+-").replace(".", "", 1).isdigit():
        raise ValueError("expected an ISO 8601 date (YYYY-MM-DD) or date-time, not a number")
    return value


#: ``YYYY-MM-DD``; a number is a 422, not 1970.
IsoDate = Annotated[date, BeforeValidator(_iso_text)]
#: An ISO 8601 date-time; a number is a 422, not 1970.
IsoDateTime = Annotated[datetime, BeforeValidator(_iso_text)]
