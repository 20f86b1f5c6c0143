"""Idempotency keys: one job per (tenant, share, task, input, options/model).

The key is a SHA-256 over a canonical JSON rendering, so the API, the relay, a
worker that meets a message with no job row, and a producer in another language
all derive the same key from the same message (docs/messages.md gives the recipe).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

#: Message fields that identify *where* and *how*, not *what*; excluded from the input hash.
_ENVELOPE_FIELDS = frozenset({"schema_version", "job_id", "tenant_id", "share_id", "options"})


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def input_hash(payload: Mapping[str, Any]) -> str:
    """SHA-256 of the message's input fields (content, media_url, segments, ...)."""
    data = {k: v for k, v in payload.items() if k not in _ENVELOPE_FIELDS and k != "task"}
    return hashlib.sha256(_canonical(data).encode()).hexdigest()


def idempotency_key(
    *,
    tenant_id: str,
    share_id: str,
    task: str,
    payload: Mapping[str, Any],
) -> str:
    """The 64-hex key stored unique in ``ml_jobs.idempotency_key``.

    ``payload`` is the JSON form of the task message (``contracts.encode_task``); its
    ``options`` (which include the model choice) are part of the key, so the same
    content summarized in another style is another job.
    """
    options = payload.get("options") or {}
    material = _canonical([tenant_id, share_id, task, input_hash(payload), options])
    return hashlib.sha256(material.encode()).hexdigest()


def salted(key: str, nonce: str) -> str:
    """``key`` salted with ``nonce``: a new 64-hex key for a deliberate re-run.

    A reprocess salts its jobs' keys with a generation nonce so they do not collapse
    onto the done jobs of the same input; repeating it with the same nonce finds them.
    """
    return hashlib.sha256(f"{key}\x1f{nonce}".encode()).hexdigest()


def is_salted(
    key: str, *, tenant_id: str, share_id: str, task: str, payload: Mapping[str, Any]
) -> bool:
    """Whether a stored ``key`` differs from the plain key of its job's ``payload``."""
    plain = idempotency_key(tenant_id=tenant_id, share_id=share_id, task=task, payload=payload)
    return key != plain
