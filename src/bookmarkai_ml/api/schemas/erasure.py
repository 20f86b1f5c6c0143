"""What ``DELETE /api/ml/shares/{share_id}`` answers: the tombstone and what was removed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bookmarkai_ml.services.erasure import Erasure

EXAMPLE: dict[str, Any] = {
    "share_id": "video-7",
    "erased_at": "2026-11-30T03:12:45.120934Z",
    "removed": {
        "jobs_cancelled": 1,
        "jobs_blanked": 3,
        "results": 2,
        "embeddings": 4,
        "outbox_dropped": 0,
        "outbox_blanked": 5,
        "webhook_deliveries_blanked": 2,
        "dead_letters_blanked": 0,
        "media_objects": 1,
    },
}


class ErasurePublic(BaseModel):
    """The share's tombstone: when it was erased and how many of each kind were removed."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE]})

    share_id: str
    erased_at: datetime = Field(
        description="Jobs created up to this time are erased; later submissions run."
    )
    removed: dict[str, int] = Field(
        description="Count per kind: jobs cancelled and blanked, results, embeddings, "
        "outbox rows dropped and blanked, webhook deliveries and dead letters blanked, "
        "media objects deleted."
    )

    @classmethod
    def of(cls, erasure: Erasure) -> ErasurePublic:
        return cls(share_id=erasure.share_id, erased_at=erasure.erased_at, removed=erasure.removed)
