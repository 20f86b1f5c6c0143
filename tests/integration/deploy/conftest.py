"""Fixtures for the deployment integration tests: private RabbitMQ nodes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.rabbit_nodes import NodeFactory


@pytest.fixture(scope="module")
def node_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeFactory]:
    """Start private nodes for one test module; all are stopped and removed after it."""
    factory = NodeFactory(tmp_path_factory.mktemp("rabbit-nodes"))
    try:
        yield factory
    finally:
        factory.stop_all()
