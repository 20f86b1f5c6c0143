"""The soak's system under test: ``bookmarkai-ml up`` on real services it may break.

- a private RabbitMQ node (``support.harness.PrivateBroker``): ``stop_app`` and memory
  alarms are node-wide, and the shared broker on 5672 must never be stopped by a test;
- an embedded Postgres with pgvector in the soak's own data directory (restarted by the
  operator's commands, ``db stop`` then ``migrate``), reached by the stack only through
  :class:`~support.tcp_proxy.TcpProxy`, so its connections can be cut;
- the spoken clips served by a local (allow-listed) HTTP server;
- ``up`` with the relay as a process of its own (``outbox.run_in_api`` off), which restarts
  a component that dies (cli/up.py).

Every process is stopped on the way out, and any left (found by the soak's data
directory in its environment) is killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bookmarkai_ml.db.embedded import embedded_url, stop_embedded
from support import up
from support.harness import PrivateBroker
from support.soak.clips import make_clips
from support.tcp_proxy import TcpProxy

CLI = [sys.executable, "-m", "bookmarkai_ml.cli"]
_STARTED = re.compile(r"bookmarkai_ml\.cli\.up .*?started (\w+(?: ml\.\w+)?) \(pid (\d+)\)")
ONNX_CACHE = os.environ.get("BOOKMARKAI_ML_TEST_MODELS", "/tmp/bookmarkai-ml-test-models")
#: The stack's settings for the soak: a short lease so a killed run is retried within
#: the drain; no rate limit in the way of the load; the small English Whisper with greedy
#: decoding and one thread per model, so two cores keep up.
SOAK_SETTINGS = {
    "BOOKMARKAI_ML_OUTBOX__RUN_IN_API": "false",
    "BOOKMARKAI_ML_WORKER__LEASE_S": "20",
    "BOOKMARKAI_ML_API__RATE_LIMIT_PER_MINUTE": "1000000",
    "BOOKMARKAI_ML_API__RATE_LIMIT_BURST": "100000",
    "BOOKMARKAI_ML_MODELS__WHISPER_MODEL": "tiny.en",
    "BOOKMARKAI_ML_MODELS__WHISPER_BEAM_SIZE": "1",
    "BOOKMARKAI_ML_MODELS__WHISPER_THREADS": "1",
    "BOOKMARKAI_ML_MODELS__EMBEDDING_THREADS": "1",
    "BOOKMARKAI_ML_MODELS__ONNX_CACHE_DIR": ONNX_CACHE,
}


@dataclass
class Stack:
    """The running system: what the workload, the faults and the account need."""

    root: Path
    broker: PrivateBroker
    pg_dir: Path  # the embedded server's data directory (pgdata lives under it)
    direct_url: str  # the database over its unix socket, bypassing the proxy
    proxy: TcpProxy
    media: str  # host:port of the clips' server
    clips: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    base: str
    key: str = ""
    admin_key: str = ""  # the account reads the platform-wide budget windows with it
    log: Path = field(default_factory=Path)

    def components(self) -> dict[str, psutil.Process]:
        """``up``'s live children by name (``api``, ``relay``, ``worker ml.summarize`` ...),
        from the ``started <name> (pid <pid>)`` lines of its log: the last start of each name
        whose process is still a live child of ``up``."""
        latest = {m[1]: int(m[2]) for m in _STARTED.finditer(self.log.read_text(errors="replace"))}
        out = {}
        for name, pid in latest.items():
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(pid)
                if proc.ppid() == self.proc.pid and proc.status() != psutil.STATUS_ZOMBIE:
                    out[name] = proc
        return out

    def pg_command(self, *args: str) -> None:
        """An operator's command on the embedded server (``db stop``, ``migrate``)."""
        env = {k: v for k, v in self.env.items() if k != "BOOKMARKAI_ML_DATABASE_URL"}
        env["BOOKMARKAI_ML_DATA_DIR"] = str(self.pg_dir)
        subprocess.run([*CLI, *args], env=env, check=True, capture_output=True, timeout=120)


def _stack_env(root: Path, ports: dict[str, int], media: str, db: str, amqp: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOKMARKAI_ML_")}
    return {
        **env,
        **up.stack_env(ports, root / "data", media),
        **SOAK_SETTINGS,
        "BOOKMARKAI_ML_DATABASE_URL": db,
        "BOOKMARKAI_ML_BROKER_URL": amqp,
    }


@contextlib.contextmanager
def running_stack(root: Path, *, ready_timeout_s: float = 600) -> Iterator[Stack]:
    """Start everything under ``root``; stop and restore all of it however the block ends."""
    broker = PrivateBroker(root / "rabbit")
    pg_dir = root / "pg"
    proxy: TcpProxy | None = None
    try:
        broker.start()
        direct_url = embedded_url(pg_dir)
        proxy = TcpProxy(unix_path=pg_dir / "pgdata" / ".s.PGSQL.5432")
        db = f"postgresql+psycopg://postgres@127.0.0.1:{proxy.start()}/bookmarkai"
        clips = make_clips(root / "media")
        with up.media_server(root / "media") as media:
            ports = up.stack_ports()
            env = _stack_env(root, ports, media, db, broker.url)
            log = root / "up.log"
            proc = up.start_up(env, log)
            try:
                base = f"http://127.0.0.1:{ports['api']}"
                up.wait_ready(proc, base, log, ready_timeout_s)
                stack = Stack(
                    root, broker, pg_dir, direct_url, proxy, media, clips, env, proc, base, log=log
                )
                stack.key = up.create_key(env, "soak")
                stack.admin_key = _admin_key(env)
                yield stack
            finally:
                up.stop_up(proc)
    finally:
        _kill_leftovers(root / "data")
        with contextlib.suppress(Exception):  # a memory alarm or a stopped app must not stay
            broker.ctl("start_app", timeout=60)
        with contextlib.suppress(Exception):
            broker.ctl("set_vm_memory_high_watermark", "0.6", timeout=60)
        broker.stop()
        if proxy is not None:
            proxy.close()
        stop_embedded(pg_dir)


def _admin_key(env: dict[str, str]) -> str:
    made = subprocess.run(
        [*CLI, "keys", "create", "--tenant", "soak-admin", "--admin", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return str(json.loads(made.stdout)["key"])


def _kill_leftovers(data_dir: Path) -> None:
    """SIGKILL any process whose settings name ``data_dir``: only the soak started those."""
    mine = str(data_dir)
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.pid != os.getpid() and proc.environ().get("BOOKMARKAI_ML_DATA_DIR") == mine:
                proc.send_signal(signal.SIGKILL)
    time.sleep(0.5)
