"""The latest job of each task of one share: what a reprocess re-runs by default."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

# Newest first within each task; DISTINCT ON keeps that first row.
_LATEST = text(
    "SELECT DISTINCT ON (task) task, payload FROM ml_jobs "
    "WHERE tenant_id = :t AND share_id = :s ORDER BY task, created_at DESC, id"
)


def latest_payloads(
    session: Session, *, tenant_id: str, share_id: str
) -> dict[str, dict[str, Any]]:
    """``{task: payload}`` of the share's newest job of each task; empty if it has none."""
    rows = session.execute(_LATEST, {"t": tenant_id, "s": share_id}).all()
    return {str(r.task): dict(r.payload or {}) for r in rows}
