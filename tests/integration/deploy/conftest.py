"""Fixtures for the deployment integration tests: private RabbitMQ nodes, a 3-node cluster
behind the shipped HAProxy config (each module that asks gets its own)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from support.rabbit_nodes import (
    ClusterNode,
    NodeFactory,
    cluster_backends,
    shipped_haproxy,
    start_cluster,
)


@pytest.fixture(scope="module")
def node_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeFactory]:
    """Start private nodes for one test module; all are stopped and removed after it."""
    factory = NodeFactory(tmp_path_factory.mktemp("rabbit-nodes"))
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture(scope="module")
def cluster(node_factory: NodeFactory) -> list[ClusterNode]:
    """Three clustered nodes (``deploy/cluster/cluster.conf``), each with a loopback AMQP port."""
    return start_cluster(node_factory, uuid.uuid4().hex[:6])


@pytest.fixture(scope="module")
def haproxy_port(
    cluster: list[ClusterNode], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[int]:
    """The shipped ``deploy/cluster/haproxy.cfg`` in front of ``cluster``: its AMQP port."""
    with shipped_haproxy(
        tmp_path_factory.mktemp("haproxy"), front="5672", backends=cluster_backends(cluster)
    ) as port:
        yield port
