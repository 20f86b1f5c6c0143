"""Celery message protocol v2, encoded without Celery so any producer can emit the same bytes.

A task message is one AMQP message (https://docs.celeryq.dev/en/stable/internals/protocol.html):

- properties: ``content_type=application/json``, ``content_encoding=utf-8``,
  ``delivery_mode=2`` (persistent), ``correlation_id`` = task id, ``message_id`` = task id;
- headers: ``lang``, ``task``, ``id``, ``root_id``, ``retries``, ``timelimit`` ... exactly
  as ``celery.app.amqp.AMQP.as_task_v2`` writes them, plus ``traceparent`` (W3C) and
  ``published_at`` (epoch seconds, for queue-lag metrics);
- body: the JSON array ``[args, kwargs, embed]``; here ``args`` is always ``[]`` and
  ``kwargs`` is the task's contract (``contracts.encode_task``).

``docs/messages.md`` documents the same layout byte for byte for the Node.js gateway.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bookmarkai_ml.errors import ContractError
from bookmarkai_ml.ports import OutgoingMessage

CONTENT_TYPE = "application/json"
CONTENT_ENCODING = "utf-8"
TRACEPARENT = "traceparent"
PUBLISHED_AT = "published_at"
#: Headers a dead-lettered copy carries (see ``messaging.dlq``).
REASON_HEADER = "x-bookmarkai-reason"
SOURCE_QUEUE_HEADER = "x-bookmarkai-queue"

#: The embed part of the body; Celery workers require all four keys.
_EMBED: dict[str, Any] = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


#: One encoder for every message: ``json.dumps`` with options builds a new one per call.
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON, the same bytes ``JSON.stringify`` produces for these values."""
    return _JSON.encode(value).encode(CONTENT_ENCODING)


def new_traceparent() -> str:
    """A fresh W3C traceparent (not sampled) for a message published outside any trace.

    Ids need uniqueness, not secrecy: like the OpenTelemetry SDK's id generator we use
    ``random.getrandbits`` (no syscall per message on the publish hot path).
    """
    trace_id = random.getrandbits(128) or 1  # all-zero ids are invalid
    span_id = random.getrandbits(64) or 1
    return f"00-{trace_id:032x}-{span_id:016x}-00"


def task_headers(
    *,
    task_name: str,
    task_id: str,
    kwargs: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
    retries: int = 0,
    origin: str = "bookmarkai-ml",
) -> dict[str, Any]:
    """The protocol v2 header table, in the order Celery writes it."""
    headers: dict[str, Any] = {
        "lang": "py",
        "task": task_name,
        "id": task_id,
        "shadow": None,
        "eta": None,
        "expires": None,
        "group": None,
        "group_index": None,
        "retries": retries,
        "timelimit": [None, None],
        "root_id": task_id,
        "parent_id": None,
        "argsrepr": "()",
        "kwargsrepr": repr(dict(kwargs))[:1024],
        "origin": origin,
        "ignore_result": True,
        "replaced_task_nesting": 0,
        "stamped_headers": None,
        "stamps": {},
    }
    if extra:
        headers.update(extra)
    headers.setdefault(TRACEPARENT, new_traceparent())
    headers.setdefault(PUBLISHED_AT, time.time())
    return headers


def encode_body(kwargs: Mapping[str, Any], args: list[Any] | None = None) -> bytes:
    """The body ``[args, kwargs, embed]`` as compact JSON."""
    return dumps([args or [], dict(kwargs), _EMBED])


def encode(
    *,
    task_name: str,
    kwargs: Mapping[str, Any],
    routing_key: str,
    exchange: str = "",
    task_id: str | None = None,
    headers: Mapping[str, Any] | None = None,
) -> OutgoingMessage:
    """A ready-to-publish protocol v2 message for ``task_name(**kwargs)``."""
    tid = task_id or str(uuid.uuid4())
    return OutgoingMessage(
        routing_key=routing_key,
        exchange=exchange,
        body=encode_body(kwargs),
        headers=task_headers(task_name=task_name, task_id=tid, kwargs=kwargs, extra=headers),
        message_id=tid,
        content_type=CONTENT_TYPE,
        content_encoding=CONTENT_ENCODING,
    )


@dataclass(frozen=True, slots=True)
class DecodedBody:
    args: list[Any]
    kwargs: dict[str, Any]
    embed: dict[str, Any]


def decode_body(body: bytes) -> DecodedBody:
    """Parse a protocol v2 body.

    Raises:
        ContractError: the body is not JSON ``[args, kwargs, embed]``.
    """
    try:
        data = json.loads(body.decode(CONTENT_ENCODING))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ContractError(f"body is not UTF-8 JSON: {exc}") from exc
    if not (isinstance(data, list) and len(data) == 3):
        raise ContractError("body must be the JSON array [args, kwargs, embed]")
    args, kwargs, embed = data
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise ContractError("body must be [list, object, object]")
    return DecodedBody(args=args, kwargs=kwargs, embed=embed if isinstance(embed, dict) else {})
