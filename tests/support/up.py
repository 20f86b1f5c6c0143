"""Start ``bookmarkai-ml up`` (the real multi-process stack) from a test, and stop all of it.

Shared by the tests that run ``up`` as a subprocess (tests/integration/e2e/test_up*.py,
tests/integration/tracing/test_trace_up.py): a local HTTP server for the sample media
(which ``up`` must allow-list), free ports for the API and the workers' metrics, the
environment that points ``up`` at them, starting ``up`` with its output in a log file,
an API key made by the CLI, waiting for ``/readyz`` while ``up`` is alive, and a SIGINT
stop that kills whatever of the tree is still left, so no test leaves a process behind.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil

SAMPLES = Path(__file__).resolve().parents[2] / "src" / "bookmarkai_ml" / "samples"
#: The statuses a job does not leave.
TERMINAL = frozenset({"done", "failed", "cancelled", "budget_exceeded"})
#: The processes of ``up`` that listen on a port of their own.
LISTENERS = ("api", "summarize", "transcribe", "embed")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def media_server(directory: Path = SAMPLES) -> Iterator[str]:
    """Serve ``directory`` over HTTP on 127.0.0.1; yields its ``host:port``."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def stack_ports() -> dict[str, int]:
    """A free port for each of :data:`LISTENERS`."""
    return {name: free_port() for name in LISTENERS}


def stack_env(ports: dict[str, int], data_dir: Path, media: str) -> dict[str, str]:
    """The settings that give ``up`` its ports, its data directory, the media host, and one
    pool child per worker (to be merged into the rest of the environment)."""
    return {
        "BOOKMARKAI_ML_DATA_DIR": str(data_dir),
        "BOOKMARKAI_ML_API__PORT": str(ports["api"]),
        "BOOKMARKAI_ML_MEDIA__ALLOWED_HOSTS": f'["{media}"]',
        "BOOKMARKAI_ML_TASKS__SUMMARIZE__METRICS_PORT": str(ports["summarize"]),
        "BOOKMARKAI_ML_TASKS__TRANSCRIBE__METRICS_PORT": str(ports["transcribe"]),
        "BOOKMARKAI_ML_TASKS__EMBED__METRICS_PORT": str(ports["embed"]),
        "BOOKMARKAI_ML_WORKER__CONCURRENCY": "1",
    }


def start_up(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start ``up`` in a session of its own, its stdout and stderr written to ``log_path``."""
    with log_path.open("wb") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "bookmarkai_ml.cli", "up"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def create_key(env: dict[str, str], tenant: str) -> str:
    """An API key of ``tenant``, made by ``bookmarkai-ml keys create`` with ``env``."""
    made = subprocess.run(
        [sys.executable, "-m", "bookmarkai_ml.cli", "keys", "create", "--tenant", tenant, "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return str(json.loads(made.stdout)["key"])


def wait_ready(proc: subprocess.Popen[bytes], base: str, log_path: Path, timeout_s: float) -> None:
    """Wait until ``{base}/readyz`` answers 200; fail with the log's tail if ``up`` exits."""
    deadline = time.monotonic() + timeout_s
    while True:
        assert proc.poll() is None, log_path.read_text()[-3000:]
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base}/readyz", timeout=30).status_code == 200:
                return
        assert time.monotonic() < deadline, "API never became ready"
        time.sleep(0.5)


def stop_up(proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    """SIGINT ``up`` (it stops its children, which flush their spans); kill what is left."""
    if proc.poll() is not None:
        return
    children = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
