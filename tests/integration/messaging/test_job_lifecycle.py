"""Jobs end to end through the real relay, RabbitMQ, Celery worker and Postgres."""

from __future__ import annotations

import signal
import threading
import urllib.request
from collections.abc import Callable
from uuid import UUID

import pytest
from sqlalchemy import text

from bookmarkai_ml.contracts import SummarizeTask
from bookmarkai_ml.db.engine import SessionFactory, transaction
from bookmarkai_ml.services import jobs
from support.harness import Stack, free_port

pytestmark = pytest.mark.integration


def test_jobs_finish_once_with_one_result_and_one_cost(stack: Stack) -> None:
    stack.start_relay()
    stack.start_worker()
    ids = [stack.submit(f"ok number {i}") for i in range(20)]
    stack.wait_status(ids, timeout=60)
    assert stack.scalar("SELECT count(*) FROM ml_results") == 20
    assert stack.scalar("SELECT count(*) FROM ml_costs") == 20
    assert stack.scalar("SELECT count(*) FROM ml_outbox WHERE sent_at IS NULL") == 0
    assert sorted(stack.runs()) == sorted(str(i) for i in ids)


def test_error_kinds_end_in_the_right_state(stack: Stack) -> None:
    stack.start_relay()
    stack.start_worker()
    retried = stack.submit("retry:2 then succeed")
    permanent = stack.submit("permanent failure")
    budget = stack.submit("budget is full")
    flaky_forever = stack.submit("retry:99 never succeeds")
    final = stack.wait_status(
        [retried, permanent, budget, flaky_forever],
        ("done", "failed", "budget_exceeded"),
        timeout=90,
    )
    assert final == {
        retried: "done",
        permanent: "failed",
        budget: "budget_exceeded",
        flaky_forever: "failed",
    }
    assert stack.scalar("SELECT attempts FROM ml_jobs WHERE id = :i", i=retried) == 3
    # max_retries=3 in the test settings: 1 run + 3 retries, then failed.
    assert stack.scalar("SELECT attempts FROM ml_jobs WHERE id = :i", i=flaky_forever) == 4
    assert (
        stack.scalar("SELECT error_code FROM ml_jobs WHERE id = :i", i=permanent) == "corrupt_media"
    )
    assert stack.scalar("SELECT retry_after IS NOT NULL FROM ml_jobs WHERE id = :i", i=budget)
    assert stack.runs().count(str(permanent)) == 1  # permanent errors never retry
    assert stack.scalar("SELECT count(*) FROM ml_results") == 1


def test_done_job_feeds_its_follow_up_jobs_in_the_same_transaction(stack: Stack) -> None:
    stack.start_relay()
    stack.spawn(
        "worker",
        "--queue",
        "ml.summarize",
        "--queue",
        "ml.embed",
        "--metrics-port",
        "0",
        "--loglevel",
        "WARNING",
        name="worker",
    )
    parent = stack.submit("ok a long transcript", then=["embed"])
    stack.wait_status([parent], timeout=60)
    child = stack.scalar("SELECT id FROM ml_jobs WHERE parent_id = :p", p=parent)
    assert child is not None
    stack.wait_status([child], timeout=60)
    payload = stack.scalar("SELECT payload FROM ml_jobs WHERE id = :c", c=child)
    assert payload["content"] == "summary of ok a long transcript"


def test_same_submission_twice_concurrently_yields_one_job(
    clean_db: object, sessions: SessionFactory
) -> None:
    message = SummarizeTask(share_id="share-1", content="the same text")
    barrier = threading.Barrier(8)
    results: list[tuple[UUID, bool]] = []

    def submit() -> None:
        barrier.wait()
        with transaction(sessions) as session:
            sub = jobs.submit(session, message)
            results.append((sub.job.id, sub.created))

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({job_id for job_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    with sessions() as session:
        assert session.execute(text("SELECT count(*) FROM ml_jobs")).scalar() == 1
        assert session.execute(text("SELECT count(*) FROM ml_outbox")).scalar() == 1


def test_worker_killed_mid_task_redelivers_and_finishes_once(stack: Stack) -> None:
    stack.start_relay()
    worker = stack.start_worker(concurrency=1)
    job = stack.submit("sleep:3 long task")
    started = stack.markers / f"{job}.started"
    stack.wait_for(started.exists, timeout=60, what="the task to start")
    stack.stop(worker, signal.SIGKILL)  # the whole worker: main process and child
    assert stack.statuses([job])[job] == "running"
    stack.start_worker(concurrency=1)
    stack.wait_status([job], timeout=90)
    assert stack.scalar("SELECT count(*) FROM ml_results WHERE job_id = :j", j=job) == 1
    assert stack.scalar("SELECT count(*) FROM ml_costs WHERE job_id = :j", j=job) == 1
    assert stack.runs().count(str(job)) == 2  # killed once, completed once


def test_prefork_worker_exports_task_metrics_from_its_children(stack: Stack) -> None:
    port = free_port()
    stack.start_relay()
    stack.spawn(
        "worker",
        "--queue",
        "ml.summarize",
        "--metrics-port",
        str(port),
        "--loglevel",
        "WARNING",
        name="worker",
    )
    ids = [stack.submit(f"ok metrics {i}") for i in range(3)]
    stack.wait_status(ids, timeout=60)

    def exported() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            return resp.read().decode()

    line = 'ml_tasks_total{outcome="done",task="summarize"} 3.0'
    stack.wait_for(lambda: line in exported(), timeout=20, what="the task counter")
    assert 'ml_cost_dollars_total{model="noop",provider="test",task="summarize"}' in exported()


def test_a_task_longer_than_its_lease_keeps_it_and_runs_once(stack: Stack) -> None:
    """Lease 4 s, task 7 s: the runtime's heartbeat stops the sweeper from requeueing it."""
    stack.start_relay()  # sweeps expired leases every second
    stack.start_worker(concurrency=2)
    job = stack.submit("sleep:7 longer than the lease")
    stack.wait_status([job], timeout=60)
    assert stack.runs().count(str(job)) == 1


@pytest.mark.parametrize("pool", ["prefork", "threads"])
@pytest.mark.parametrize(
    ("script", "code", "runs"),
    [
        # interrupted at the soft limit: failed at once, never redelivered
        ("sleep:60 never finishes in time", "time_limit", 1),
        # ignores the soft limit: past the hard one prefork kills it and threads stop
        # renewing its lease; the sweeper requeues it, and when its attempts
        # (max_retries 1 -> 2 runs) are spent it fails
        ("stubborn:12 ignores its soft limit", "attempts_exhausted", 2),
    ],
)
def test_a_task_past_its_time_limit_ends_failed_and_the_worker_goes_on(
    stack_with: Callable[[dict[str, str]], Stack], pool: str, script: str, code: str, runs: int
) -> None:
    stack = stack_with(
        {
            "BOOKMARKAI_ML_TASKS__SUMMARIZE__TIME_LIMIT_S": "3",  # soft limit: 1 s
            "BOOKMARKAI_ML_WORKER__LEASE_S": "2",
            "BOOKMARKAI_ML_WORKER__MAX_RETRIES": "1",
        }
    )
    stack.start_relay()
    stack.start_worker(concurrency=2, pool=pool)
    job = stack.submit(script)
    assert stack.wait_status([job], ("failed",), timeout=120)[job] == "failed"
    assert stack.scalar("SELECT error_code FROM ml_jobs WHERE id = :j", j=job) == code
    assert stack.runs().count(str(job)) == runs
    assert stack.scalar("SELECT count(*) FROM ml_results WHERE job_id = :j", j=job) == 0
    after = stack.submit("ok served after the time limit")
    stack.wait_status([after], timeout=60)
