"""Completion events on the wire: one AMQP message per event on the topic exchange
``ml.events``, routing key ``job.<task>.<status>``, body the CloudEvents 1.0 structured
JSON (docs/messages.md, "Completion events", documents the same bytes).

The event itself is built (and validated by the CloudEvents SDK) when the job ends, in
``db/events.py``; its outbox row keeps it as a JSON object, and this module turns the
row into the message the relay publishes:

- ``content_type=application/cloudevents+json`` (structured mode of the CloudEvents AMQP
  binding), ``content_encoding=utf-8``, persistent, ``message_id`` = the event's ``id``
  (the same on every republish, so consumers deduplicate on it);
- headers: ``traceparent`` (the job's trace, else a fresh unsampled one, as task messages
  have; the publish span continues it);
- body: compact UTF-8 JSON, the attributes in spec order, then extensions, then ``data``.

Published with ``mandatory`` off: consumers bind their own queues, and an event nobody
has bound a queue for yet is not an error. A topic exchange drops such a message (it is
confirmed, not returned); with ``mandatory`` on the broker would return it, the relay
would count that as a refusal, retry it and finally give up on the row. Dropping is
right here: the job has ended either way, and "nobody listens" is the consumers' choice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bookmarkai_ml.contracts.jobs import JobPublic
from bookmarkai_ml.db.events import KIND as KIND  # ml_outbox.kind of an event row
from bookmarkai_ml.messaging import protocol, topology
from bookmarkai_ml.ports import OutgoingMessage

CONTENT_TYPE = "application/cloudevents+json"
#: Context attributes in the order the CloudEvents spec lists them; extensions follow.
ATTRIBUTE_ORDER = ("specversion", "id", "source", "type", "subject", "time", "datacontenttype")
_DATA_ORDER = tuple(JobPublic.model_fields)


def _ordered(mapping: Mapping[str, Any], first: tuple[str, ...]) -> dict[str, Any]:
    ordered = {key: mapping[key] for key in first if key in mapping}
    ordered.update({k: v for k, v in sorted(mapping.items()) if k not in ordered})
    return ordered


def body(event: Mapping[str, Any]) -> bytes:
    """The structured-mode body of ``event`` (a stored outbox row loses the key order)."""
    attributes = _ordered({k: v for k, v in event.items() if k != "data"}, ATTRIBUTE_ORDER)
    if "data" in event:
        data = event["data"]
        attributes["data"] = _ordered(data, _DATA_ORDER) if isinstance(data, Mapping) else data
    return protocol.dumps(attributes)


def encode(
    event: Mapping[str, Any], *, routing_key: str, headers: Mapping[str, Any]
) -> OutgoingMessage:
    """The message of an event outbox row (``headers``: the row's, ``id`` left out)."""
    amqp_headers = {k: v for k, v in headers.items() if k != "id"}
    amqp_headers.setdefault(protocol.TRACEPARENT, protocol.new_traceparent())
    return OutgoingMessage(
        routing_key=routing_key,
        exchange=topology.EVENTS_EXCHANGE,
        body=body(event),
        headers=amqp_headers,
        # The row's headers keep the id even when erasure blanked the event's content.
        message_id=str(headers.get("id") or event.get("id") or ""),
        content_type=CONTENT_TYPE,
        content_encoding=protocol.CONTENT_ENCODING,
        mandatory=False,
    )
