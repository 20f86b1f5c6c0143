"""``up`` on the real services for a bench: start it on shipped defaults, watch it, stop it.

The start and stop come from ``tests/support/up.py`` (the e2e tests' harness): a fresh data
directory (its own embedded Postgres), a throw-away vhost on the local RabbitMQ, free ports,
the media server allow-listed. Only what a bench must change is set: ports, the data dir,
the allow-listed media host, ``environment=test`` and a persistent ONNX export cache (so
``models prepare`` exports once per machine, not once per run). Worker concurrency, pools,
prefetch, recycling and thread counts stay at the defaults ``up`` ships with.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from sqlalchemy import Engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from bookmarkai_ml.db.embedded import embedded_url, running_pid
from bookmarkai_ml.db.engine import make_engine
from support import up

#: Where ``models prepare`` keeps its ONNX export between runs (not a performance setting).
ONNX_CACHE = Path(os.environ.get("BKML_BENCH_ONNX_CACHE", "/tmp/bookmarkai-ml-bench-onnx"))


@dataclass
class Stack:
    """A running ``up``: its process, API base URL, key, database and environment."""

    proc: subprocess.Popen[bytes]
    base: str
    key: str
    data_dir: Path
    env: dict[str, str]
    log: Path
    engine: Engine = field(init=False)

    def __post_init__(self) -> None:
        self.engine = make_engine(embedded_url(self.data_dir))

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(
            base_url=self.base, headers={"Authorization": f"Bearer {self.key}"}, **kwargs
        )  # type: ignore[arg-type]

    def pids(self) -> list[int]:
        """``up``, every process under it, and the embedded Postgres (CPU accounting)."""
        roots = [self.proc.pid]
        pg = running_pid(self.data_dir)
        return [*roots, pg] if pg else roots

    def tree(self) -> list[psutil.Process]:
        """Every process of the ``up`` tree (Postgres and RabbitMQ are not in it)."""
        root = psutil.Process(self.proc.pid)
        return [root, *root.children(recursive=True)]

    def scalar(self, sql: str, **params: object) -> object:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()


def env_for(data_dir: Path, amqp_url: str, media: str, api_port: int) -> dict[str, str]:
    """The environment of ``up``: this one minus any ``BOOKMARKAI_ML_*`` and thread-pool
    overrides of the bench process, plus ports, data dir, broker and media host."""
    drop = ("BOOKMARKAI_ML_", "OMP_", "KMP_", "MKL_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(
        {
            "BOOKMARKAI_ML_DATA_DIR": str(data_dir),
            "BOOKMARKAI_ML_BROKER_URL": amqp_url,
            "BOOKMARKAI_ML_ENVIRONMENT": "test",
            "BOOKMARKAI_ML_API__PORT": str(api_port),
            "BOOKMARKAI_ML_MEDIA__ALLOWED_HOSTS": f'["{media}"]',
            "BOOKMARKAI_ML_MODELS__ONNX_CACHE_DIR": str(ONNX_CACHE),
        }
    )
    for task in ("SUMMARIZE", "TRANSCRIBE", "EMBED"):
        env[f"BOOKMARKAI_ML_TASKS__{task}__METRICS_PORT"] = str(up.free_port())
    return env


def create_key(env: dict[str, str], tenant: str) -> str:
    """A key whose own rate limit does not throttle a backfill (the limiter still runs)."""
    made = subprocess.run(
        [sys.executable, "-m", "bookmarkai_ml.cli", "keys", "create", "--tenant", tenant,
         "--rate-limit", "10000000", "--json"],
        env=env, capture_output=True, text=True, check=True, timeout=180,
    )  # fmt: skip
    import json

    return str(json.loads(made.stdout)["key"])


@contextlib.contextmanager
def running_up(
    work: Path, amqp_url: str, media: str, *, overrides: dict[str, str], ready_s: float = 900
) -> Iterator[Stack]:
    """``up`` on a fresh data dir under ``work``, ready (``/readyz`` 200); stopped after.
    ``overrides`` (experiments only) are added to its environment."""
    api_port = up.free_port()
    data_dir = work / "data"
    env = env_for(data_dir, amqp_url, media, api_port) | overrides
    log = work / "up.log"
    proc = up.start_up(env, log)
    base = f"http://127.0.0.1:{api_port}"
    try:
        deadline = time.monotonic() + ready_s
        while True:  # /healthz answers once migrations and `models prepare` are done
            assert proc.poll() is None, log.read_text()[-3000:]
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/healthz", timeout=30).status_code == 200:
                    break
            assert time.monotonic() < deadline, "up never answered /healthz"
            time.sleep(0.5)
        key = create_key(env, "bench")
        up.wait_ready(proc, base, log, max(1.0, deadline - time.monotonic()))
        stack = Stack(proc=proc, base=base, key=key, data_dir=data_dir, env=env, log=log)
        try:
            yield stack
        finally:
            stack.engine.dispose()
    finally:
        up.stop_up(proc)


def pss_mb(pid: int) -> float:
    """Proportional set size of one process (``/proc/PID/smaps_rollup``), in MB."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def role(proc: psutil.Process, up_pid: int) -> str:
    """A short name for a process of the tree: ``up``, ``api``, ``worker ml.embed child``."""
    argv = proc.cmdline()
    if proc.pid == up_pid:
        return "up"
    if "worker" in argv:
        queue = argv[argv.index("--queue") + 1] if "--queue" in argv else "?"
        parent = proc.parent()
        kind = "child" if parent is not None and "worker" in parent.cmdline() else "main"
        return f"worker {queue} {kind}"
    return next((a for a in ("api", "relay") if a in argv), proc.name())


def pss_report(stack: Stack) -> dict[str, object]:
    """PSS of every process of the ``up`` tree: per process, total and largest."""
    rows = []
    for proc in stack.tree():
        with contextlib.suppress(psutil.NoSuchProcess, FileNotFoundError, ProcessLookupError):
            rows.append({"role": role(proc, stack.proc.pid), "pss_mb": round(pss_mb(proc.pid), 1)})
    total = sum(float(r["pss_mb"]) for r in rows)  # type: ignore[arg-type]
    largest = max((float(r["pss_mb"]) for r in rows), default=0.0)  # type: ignore[arg-type]
    return {"total_mb": round(total, 1), "max_process_mb": round(largest, 1), "processes": rows}
