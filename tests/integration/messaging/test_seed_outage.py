"""The design's reliability numbers, untouched, against a broker outage longer than them.

The API runs as deployed (``bookmarkai-ml api``, its relay in process) with every broker
setting at its design default: reconnect 500 ms -> 32 s with 30 % jitter and at most 10
attempts, breaker at 10 failures and 30 s, health check every 30 s, the relay's retry
1 s -> 10 s and its 30 s drain deadline. Only ``broker.time_scale`` is set, the one
test-only factor that runs every one of those intervals on a 20x faster clock
(docs/reliability.md, "ALERT after a long outage"). The broker is the shared one behind
a TCP proxy that this test takes down, so no other test loses it.

While the broker is down for longer than the whole reconnect schedule, the producer ends
in ALERT: ``ml_producer_connection_state`` shows 3, ``/readyz`` answers 503 with
``publisher: alert``, and every accepted job keeps its outbox row. When the broker comes
back the same process publishes every row and leaves ALERT by itself.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import Engine, text

from bookmarkai_ml.config import Settings
from bookmarkai_ml.domain.backoff import Backoff
from bookmarkai_ml.messaging.hooks import ConnectionState
from support.harness import CLI, settings_from_env
from support.tcp_proxy import TcpProxy
from support.up import create_key, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: The one test-only factor: every reliability interval runs 20x faster.
TIME_SCALE = 0.05
BEFORE, DURING = 5, 40
_STATE = re.compile(r"^ml_producer_connection_state(?:\{[^}]*\})? (\S+)$", re.MULTILINE)


def whole_schedule_s(settings: Settings) -> float:
    """The longest one reconnect round can last (every delay at +jitter), at the test clock."""
    b = settings.broker
    backoff = Backoff(initial=b.reconnect_initial_s, maximum=b.reconnect_max_s)
    nominal = sum(backoff.nominal(n) for n in range(1, b.reconnect_max_attempts))
    return nominal * (1 + b.reconnect_jitter) * b.time_scale


@dataclass
class Api:
    base: str
    key: str
    engine: Engine
    settings: Settings

    def get(self, path: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.key}"}
        return httpx.get(f"{self.base}{path}", headers=headers, timeout=30)

    def submit(self, n: int) -> list[str]:
        ids = []
        for i in range(n):
            body = {
                "share_id": f"outage-{uuid.uuid4().hex[:8]}",
                "task": "summarize",
                "input": {"text": f"Outage test item {i}. It only has to be published."},
            }
            resp = httpx.post(
                f"{self.base}/api/ml/jobs",
                json=body,
                headers={"Authorization": f"Bearer {self.key}"},
                timeout=30,
            )
            assert resp.status_code == 202, resp.text
            ids += [job["id"] for job in resp.json()["jobs"]]
        return ids

    def state(self) -> ConnectionState:
        resp = self.get("/api/ml/metrics/prometheus")
        assert resp.status_code == 200, resp.text
        match = _STATE.search(resp.text)
        assert match, "ml_producer_connection_state is not exported"
        return ConnectionState(int(float(match.group(1))))

    def unsent(self, job_ids: list[str]) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT count(*) FROM ml_outbox WHERE sent_at IS NULL "
                        "AND job_id = ANY(CAST(:ids AS uuid[]))"
                    ),
                    {"ids": job_ids},
                ).scalar_one()
            )

    def rows(self, job_ids: list[str]) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    text("SELECT count(*) FROM ml_outbox WHERE job_id = ANY(CAST(:ids AS uuid[]))"),
                    {"ids": job_ids},
                ).scalar_one()
            )


def wait_until(check: Callable[[], bool], *, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out after {timeout_s}s waiting for {what}"
        time.sleep(0.2)


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    with TcpProxy("127.0.0.1", 5672) as p:
        yield p


@pytest.fixture
def api(
    proxy: TcpProxy, own_amqp_url: str, pg_url: str, clean_db: Engine, tmp_path: Path
) -> Iterator[Api]:
    vhost = urlsplit(own_amqp_url).path
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BOOKMARKAI_ML_")},
        "BOOKMARKAI_ML_ENVIRONMENT": "test",
        "BOOKMARKAI_ML_DATABASE_URL": pg_url,
        "BOOKMARKAI_ML_BROKER_URL": f"amqp://guest:guest@127.0.0.1:{proxy.port}{vhost}",
        "BOOKMARKAI_ML_DATA_DIR": str(tmp_path / "data"),
        "BOOKMARKAI_ML_API__RATE_LIMIT_PER_MINUTE": "100000",
        "BOOKMARKAI_ML_API__RATE_LIMIT_BURST": "10000",
        "BOOKMARKAI_ML_MODELS__ONNX_CACHE_DIR": os.environ["BOOKMARKAI_ML_MODELS__ONNX_CACHE_DIR"],
        # The only reliability setting the test touches (docs/configuration.md).
        "BOOKMARKAI_ML_BROKER__TIME_SCALE": str(TIME_SCALE),
    }
    settings = settings_from_env(env)
    log = tmp_path / "api.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [CLI, "api", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    api = Api(f"http://127.0.0.1:{port}", create_key(env, "outage"), clean_db, settings)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(f"{api.base}/readyz", timeout=10).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        yield api
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def test_seed_numbers_alert_after_a_long_outage_and_recover_by_themselves(
    api: Api, proxy: TcpProxy
) -> None:
    s = api.settings.broker
    # The design's numbers, as the API process reads them: nothing shrunk.
    assert (s.reconnect_initial_s, s.reconnect_max_s, s.reconnect_jitter) == (0.5, 32.0, 0.3)
    assert s.reconnect_max_attempts == 10
    assert (s.breaker_threshold, s.breaker_cooldown_s) == (10, 30.0)
    assert s.health_check_interval_s == 30.0
    assert (api.settings.outbox.retry_initial_s, api.settings.outbox.retry_max_s) == (1.0, 10.0)
    assert api.settings.outbox.drain_deadline_s == 30.0
    schedule = whole_schedule_s(api.settings)

    before = api.submit(BEFORE)
    wait_until(lambda: api.unsent(before) == 0, timeout_s=60, what="the first jobs published")
    assert api.state() is ConnectionState.UP

    proxy.down()
    down_at = time.monotonic()
    during = api.submit(DURING)  # accepted: the outbox holds them
    # The producer runs its whole schedule, then ALERT.
    wait_until(
        lambda: api.state() is ConnectionState.ALERT,
        timeout_s=10 * schedule + 60,
        what="the producer's ALERT state",
    )
    alert_after = time.monotonic() - down_at
    assert proxy.refused >= s.reconnect_max_attempts  # it did try, on the schedule
    ready = api.get("/readyz")
    assert ready.status_code == 503, ready.text
    assert ready.json()["checks"]["publisher"] == "alert"
    # Keep the broker away for another whole schedule: nothing is published or dropped.
    seen: set[ConnectionState] = set()
    until = time.monotonic() + schedule
    while time.monotonic() < until:
        seen.add(api.state())
        time.sleep(0.2)
    assert seen == {ConnectionState.ALERT}, "ALERT holds until the producer connects again"
    assert api.rows(during) == DURING
    assert api.unsent(during) == DURING

    proxy.up()
    up_at = time.monotonic()
    wait_until(lambda: api.unsent(during) == 0, timeout_s=120, what="every row published")
    published_after = time.monotonic() - up_at
    wait_until(lambda: api.state() is ConnectionState.UP, timeout_s=60, what="ALERT cleared")
    ready = api.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["publisher"] == "ok"
    # Figures for docs/reliability.md (informational; no wall-clock assertion).
    print(
        f"\nseed outage: schedule<={schedule:.1f}s ALERT after {alert_after:.1f}s, "
        f"outage {up_at - down_at:.1f}s, {DURING} rows published {published_after:.1f}s "
        f"after the broker returned (time scale {TIME_SCALE})"
    )
