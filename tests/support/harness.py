"""Messaging test harness: real workers and relays as subprocesses (fixtures: conftest.py).

Workers and relays run through the real CLI (``bookmarkai-ml worker`` / ``relay``) with
settings passed as ``BOOKMARKAI_ML_*`` environment variables, exactly as deployed;
the test handlers come in through ``worker.plugins`` (``support.handlers``, importable in the
subprocesses because ``tests/`` is put on their ``PYTHONPATH``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import Engine, text

from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import SummarizeTask
from bookmarkai_ml.db.engine import SessionFactory, transaction
from bookmarkai_ml.messaging import topology
from bookmarkai_ml.messaging.admin import BrokerAdmin
from bookmarkai_ml.services import jobs

TESTS_DIR = Path(__file__).resolve().parents[1]  # holds the ``support`` package
CLI = str(Path(sys.executable).parent / "bookmarkai-ml")


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def purge(settings: Settings) -> None:
    """Empty every task queue and DLQ, so no message leaks from one test into the next."""

    async def main() -> None:
        async with BrokerAdmin.from_settings(settings) as admin:
            await admin.connect(attempts=settings.broker.reconnect_max_attempts)
            await admin.purge([q.name for q in topology.all_queues(settings.broker)])

    asyncio.run(main())


def settings_env(
    *, pg_url: str, broker_url: str, data_dir: Path, markers: Path, extra: dict[str, str]
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOKMARKAI_ML_")}
    env.update(
        {
            "BOOKMARKAI_ML_ENVIRONMENT": "test",
            "BOOKMARKAI_ML_DATABASE_URL": pg_url,
            "BOOKMARKAI_ML_BROKER_URL": broker_url,
            "BOOKMARKAI_ML_DATA_DIR": str(data_dir),
            "BOOKMARKAI_ML_WORKER__PLUGINS": '["support.handlers"]',
            "BOOKMARKAI_ML_WORKER__LEASE_S": "4",
            "BOOKMARKAI_ML_WORKER__MAX_RETRIES": "3",
            "BOOKMARKAI_ML_OUTBOX__POLL_INTERVAL_S": "1",
            "BOOKMARKAI_ML_OUTBOX__MAINTENANCE_INTERVAL_S": "1",
            "BOOKMARKAI_ML_BROKER__RECONNECT_MAX_S": "2",
            "BOOKMARKAI_ML_BROKER__BREAKER_COOLDOWN_S": "2",
            "BKML_TEST_MARKERS": str(markers),
            "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), env.get("PYTHONPATH", "")]).rstrip(
                os.pathsep
            ),
        }
    )
    env.update(extra)
    return env


def settings_from_env(env: dict[str, str]) -> Settings:
    """The same settings the subprocesses see, built in the test process."""
    saved = dict(os.environ)
    try:
        os.environ.update({k: v for k, v in env.items() if k.startswith("BOOKMARKAI_ML_")})
        return Settings(_env_file=None)  # type: ignore[call-arg]
    finally:
        os.environ.clear()
        os.environ.update(saved)


@dataclass
class Stack:
    """Handles on the real services of one test."""

    engine: Engine
    sessions: SessionFactory
    env: dict[str, str]
    settings: Settings
    workdir: Path
    markers: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def spawn(
        self, *args: str, name: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}-{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(
            [CLI, *args],
            env=env or self.env,
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def start_worker(
        self, queue: str = "ml.summarize", *, concurrency: int = 2, pool: str = "prefork"
    ) -> subprocess.Popen[bytes]:
        return self.spawn(
            "worker",
            "--queue",
            queue,
            "--concurrency",
            str(concurrency),
            "--pool",
            pool,
            "--metrics-port",
            "0",
            "--loglevel",
            "WARNING",
            name="worker",
        )

    def start_relay(self, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        return self.spawn("relay", name="relay", env=env)

    def submit(
        self, content: str, *, share_id: str | None = None, then: Iterable[str] = ()
    ) -> UUID:
        message = SummarizeTask(share_id=share_id or uuid.uuid4().hex, content=content)
        with transaction(self.sessions) as session:
            return jobs.submit(session, message, then=list(then)).job.id

    def statuses(self, job_ids: Iterable[UUID]) -> dict[UUID, str]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT id, status FROM ml_jobs WHERE id = ANY(:ids)"), {"ids": list(job_ids)}
            ).all()
        return {r[0]: r[1] for r in rows}

    def wait_for(self, predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.2)
        raise AssertionError(
            f"timed out after {timeout}s waiting for {what}; logs in {self.workdir}"
        )

    def wait_status(
        self, job_ids: Iterable[UUID], statuses: Iterable[str] = ("done",), *, timeout: float = 60
    ) -> dict[UUID, str]:
        ids, wanted = list(job_ids), set(statuses)
        self.wait_for(
            lambda: (
                all(s in wanted for s in self.statuses(ids).values())
                and len(self.statuses(ids)) == len(ids)
            ),
            timeout=timeout,
            what=f"{len(ids)} jobs to reach {sorted(wanted)}",
        )
        return self.statuses(ids)

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def execute(self, sql: str, **params: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(text(sql), params)

    def runs(self) -> list[str]:
        log = self.markers / "runs.log"
        return log.read_text().split() if log.exists() else []

    def stop(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def stop_all(self) -> None:
        # SIGKILL: fast, and exactly the fault the system must absorb anyway.
        for proc in reversed(self.procs):
            self.stop(proc, signal.SIGKILL)


def declare(settings: Settings) -> None:
    async def main() -> None:
        async with BrokerAdmin.from_settings(settings) as admin:
            await admin.connect(attempts=settings.broker.reconnect_max_attempts)
            await admin.declare_topology()

    asyncio.run(main())


def declare_url(url: str) -> None:
    """Declare the topology on the broker at ``url``."""
    declare(Settings(broker_url=url, environment="test", _env_file=None))  # type: ignore[call-arg]


def make_stack(
    *,
    engine: Engine,
    sessions: SessionFactory,
    pg_url: str,
    broker_url: str,
    tmp: Path,
    extra: dict[str, str] | None = None,
) -> Stack:
    markers = tmp / "markers"
    markers.mkdir(parents=True, exist_ok=True)
    env = settings_env(
        pg_url=pg_url,
        broker_url=broker_url,
        data_dir=tmp / "data",
        markers=markers,
        extra=extra or {},
    )
    settings = settings_from_env(env)
    return Stack(engine, sessions, env, settings, tmp, markers)


RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateBroker:
    """A RabbitMQ node of our own (name, ports, data dirs, config) to stop and restart.

    The shared broker on 5672 must never be restarted by a test: others test against it.
    """

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.name = f"bkml{self.port}@localhost"
        home = base / "home"
        for d in ("mnesia", "log", "home"):
            (base / d).mkdir(parents=True, exist_ok=True)
        config = base / "rabbitmq.conf"
        config.write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
            "loopback_users = none\n"
            "disk_free_limit.absolute = 50MB\n"
            "vm_memory_high_watermark.relative = 0.6\n"
        )
        (base / "enabled_plugins").write_text("[].\n")
        self.env = {
            **os.environ,
            "HOME": str(home),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_CONFIG_FILE": str(config),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        }
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def ctl(self, *args: str, timeout: float = 120) -> None:
        subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmqctl"), "-n", self.name, *args],
            env=self.env,
            check=True,
            capture_output=True,
            timeout=timeout,
        )

    def start(self) -> None:
        subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmq-server"), "-detached"],
            env=self.env,
            check=True,
            capture_output=True,
            timeout=60,
        )
        self._await_startup(120)

    def _await_startup(self, timeout: float) -> None:
        # await_startup fails at once while the Erlang node is not reachable yet.
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.ctl("await_startup", "--timeout", "60", timeout=90)
                return
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)

    def stop_app(self) -> None:
        self.ctl("stop_app")

    def start_app(self) -> None:
        self.ctl("start_app")
        self._await_startup(60)

    def stop(self) -> None:
        try:
            self.ctl("stop", timeout=60)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pid_file = self.base / "mnesia" / f"{self.name}.pid"
            if pid_file.exists():
                os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
