"""Fixtures shared by the integration tests that run ``bookmarkai-ml up`` (tests/support/up.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support import up


@pytest.fixture
def media_server() -> Iterator[str]:
    """The sample media served over HTTP on 127.0.0.1: its ``host:port``."""
    with up.media_server() as host:
        yield host
