"""``up`` starts one pool child per worker unless ``worker.concurrency`` is set."""

from __future__ import annotations

from bookmarkai_ml.cli.up import _components, worker_concurrency
from bookmarkai_ml.config import Settings, WorkerSettings
from bookmarkai_ml.contracts import TASKS


def _settings(**worker: int) -> Settings:
    return Settings(worker=WorkerSettings(**worker), _env_file=None)  # type: ignore[call-arg]


def test_one_child_per_worker_unless_configured() -> None:
    assert worker_concurrency(_settings()) == 1
    assert worker_concurrency(_settings(concurrency=3)) == 3
    assert worker_concurrency(_settings(concurrency=2)) == 2  # set explicitly: kept


def test_every_worker_gets_the_concurrency() -> None:
    parts = _components(True, True, concurrency=1)
    workers = [p for p in parts if p.name.startswith("worker ")]
    assert [p.name for p in workers] == [f"worker {q}" for q in TASKS.queues]
    for part in workers:
        at = part.argv.index("--concurrency")
        assert part.argv[at + 1] == "1"
