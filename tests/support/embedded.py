"""Stop the embedded Postgres servers a test session started (fixtures: tests/conftest.py).

The session's own server (``$BOOKMARKAI_ML_TEST_PGDATA``) is shared with any other test
session running at the same time on the machine, so it is reference-counted with a file
lock: each session holds a shared lock on it while it runs, and the last one out (the
one that gets the exclusive lock) stops the server. ``flock`` locks die with their
process, so a killed session never pins the server forever. Servers that tests or their
subprocesses started in temporary data directories are stopped wholesale at the end.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bookmarkai_ml.db.embedded import running_pid, stop_embedded


@contextmanager
def shared_server(data_dir: Path) -> Iterator[None]:
    """Hold a share of the server under ``data_dir``; stop it if ours was the last share."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / "sessions.lock").open("a") as lock:
        # Blocks while a finishing session stops the server, so we never use one going away.
        fcntl.flock(lock, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pass  # another session still uses it; the last one stops it
            else:
                try:
                    if not stop_embedded(data_dir):
                        raise RuntimeError(f"the embedded Postgres in {data_dir} did not stop")
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)


def stop_all_under(root: Path) -> list[Path]:
    """Stop every embedded server whose data directory lies under ``root``; return them.

    Raises:
        RuntimeError: a server did not stop within ``stop_embedded``'s timeout.
    """
    stopped, stuck = [], []
    for pid_file in sorted(root.rglob("pgdata/postmaster.pid")):
        data_dir = pid_file.parent.parent
        if running_pid(data_dir) is None:
            continue
        (stopped if stop_embedded(data_dir) else stuck).append(data_dir)
    if stuck:
        raise RuntimeError(f"embedded Postgres still running in {stuck}")
    return stopped
