"""Shared set-up of the messaging benchmarks: a throw-away vhost on the local RabbitMQ."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

BROKER = os.environ.get("BENCH_BROKER", "amqp://guest:guest@127.0.0.1:5672")


def _ctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=120)


@contextmanager
def fresh_vhost() -> Iterator[str]:
    """Yield the URL of a new vhost; delete it (and its queues) afterwards."""
    vhost = f"bench_{uuid.uuid4().hex[:8]}"
    _ctl("add_vhost", vhost)
    _ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    try:
        yield f"{BROKER}/{vhost}"
    finally:
        _ctl("delete_vhost", vhost)
