"""``admin.translate``: each AMQP reply code becomes its class in the project's error tree."""

from __future__ import annotations

import aiormq
import pytest

from bookmarkai_ml.errors import (
    BookmarkAIError,
    BrokerUnavailableError,
    ConfigurationError,
    QueueNotFoundError,
)
from bookmarkai_ml.messaging.admin import translate


@pytest.mark.parametrize(
    ("raised", "expected", "code"),
    [
        (
            aiormq.exceptions.ChannelNotFoundEntity("NOT_FOUND - no queue 'q'"),
            QueueNotFoundError,
            "queue_not_found",
        ),
        (
            aiormq.exceptions.ChannelPreconditionFailed("PRECONDITION_FAILED - inequivalent arg"),
            ConfigurationError,
            "topology_mismatch",
        ),
        (
            aiormq.exceptions.ChannelAccessRefused("ACCESS_REFUSED - no configure rights"),
            ConfigurationError,
            "broker_access_refused",
        ),
        (
            aiormq.exceptions.ConnectionClosed(320, "CONNECTION_FORCED"),
            BrokerUnavailableError,
            None,
        ),
        (ConnectionRefusedError(111, "refused"), BrokerUnavailableError, None),
        (TimeoutError(), BrokerUnavailableError, None),
    ],
)
def test_translate(
    raised: BaseException, expected: type[BookmarkAIError], code: str | None
) -> None:
    error = translate(raised, "reading q")
    assert type(error) is expected
    assert error.code == (code or expected.code)
    assert error.message.startswith("reading q: ")


def test_the_reply_text_reaches_the_message() -> None:
    error = translate(aiormq.exceptions.ChannelNotFoundEntity("NOT_FOUND - no queue 'q'"), "x")
    assert error.message == "x: NOT_FOUND - no queue 'q'"
