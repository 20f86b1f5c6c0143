"""Celery protocol v2 encoding, checked against Celery's own decoder and docs/messages.md."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from celery.app.amqp import AMQP

from bookmarkai_ml.contracts import SummarizeTask, TaskType, decode_task, encode_task
from bookmarkai_ml.errors import ContractError
from bookmarkai_ml.messaging import protocol

DOC = Path(__file__).parents[3] / "docs" / "messages.md"
TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$")


def _message() -> protocol.OutgoingMessage:
    kwargs = encode_task(SummarizeTask(share_id="s1", content="héllo wörld"))
    return protocol.encode(
        task_name="summarize_content", kwargs=kwargs, routing_key="ml.summarize", task_id="tid-1"
    )


def test_body_is_compact_utf8_json_args_kwargs_embed() -> None:
    message = _message()
    assert message.body.startswith(b'[[],{"schema_version":1,"share_id":"s1",')
    assert "héllo wörld".encode() in message.body  # not \\u-escaped, like JSON.stringify
    assert message.body.endswith(b'{"callbacks":null,"errbacks":null,"chain":null,"chord":null}]')
    decoded = protocol.decode_body(message.body)
    assert decoded.args == []
    assert decode_task(TaskType.SUMMARIZE, decoded.kwargs).content == "héllo wörld"


def test_headers_carry_what_celery_writes_plus_a_traceparent() -> None:
    ours = _message().headers
    celery_headers = AMQP.as_task_v2(
        AMQP.__new__(AMQP),
        "tid-1",
        "summarize_content",
        args=(),
        kwargs={},
        argsrepr="()",
        kwargsrepr="{}",
        origin="x",
    ).headers
    assert set(celery_headers) <= set(ours)
    assert ours["id"] == ours["root_id"] == "tid-1"
    assert ours["task"] == "summarize_content"
    assert TRACEPARENT.match(str(ours["traceparent"]))
    assert isinstance(ours["published_at"], float)


def test_given_traceparent_is_kept() -> None:
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    message = protocol.encode(
        task_name="embed_content", kwargs={}, routing_key="ml.embed", headers={"traceparent": tp}
    )
    assert message.headers["traceparent"] == tp
    assert message.message_id == message.headers["id"]


@pytest.mark.parametrize(
    "body", [b"not json", b'{"a": 1}', b"[[], [], {}]", b"[1, 2]", b"\xff\xfe"]
)
def test_malformed_bodies_break_the_contract(body: bytes) -> None:
    with pytest.raises(ContractError):
        protocol.decode_body(body)


def test_docs_example_body_is_a_valid_message() -> None:
    match = re.search(r"<!-- example:body -->\s*```json\n(.*?)\n```", DOC.read_text(), re.S)
    assert match
    decoded = protocol.decode_body(match.group(1).encode())
    message = decode_task(TaskType.SUMMARIZE, decoded.kwargs)
    assert message.share_id == "share-42"
    headers = json.loads(
        re.search(r"<!-- example:headers -->\s*```json\n(.*?)\n```", DOC.read_text(), re.S).group(1)  # type: ignore[union-attr]
    )
    assert set(_message().headers) == set(headers)
