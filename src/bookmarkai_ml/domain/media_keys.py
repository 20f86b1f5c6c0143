"""Storage keys for kept media: ids made safe as path segments (pure; no I/O).

The transcription service keeps each fetched source (docs/transcription.md, the "keep
a copy" step) under ``<tenant>/<share>/<job>/source``. Ids may contain anything, so
each part is made safe here; the store still refuses traversal itself.
"""

from __future__ import annotations

import re


def key_part(value: str) -> str:
    """``value`` made safe as one path segment of a key (ids may contain anything)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", value).strip(".") or "_"


def source_key(tenant_id: str, share_id: str, job_id: str) -> str:
    """The key a job's fetched source media is kept under."""
    return "/".join(key_part(p) for p in (tenant_id, share_id, job_id, "source"))


def job_prefix(tenant_id: str, share_id: str, job_id: str) -> str:
    """The key prefix of everything kept for one job (erasure deletes it).

    Per job, not per share: two share ids can be made safe to the same segment
    (``"a b"`` and ``"a_b"``), job ids cannot.
    """
    return "/".join(key_part(p) for p in (tenant_id, share_id, job_id)) + "/"
