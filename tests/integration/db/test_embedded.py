"""The embedded Postgres: processes that start it at the same moment all get it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

_CHILD = """
import sys
from pathlib import Path
from sqlalchemy import text
from bookmarkai_ml.db.embedded import embedded_url
from bookmarkai_ml.db.engine import make_engine
engine = make_engine(embedded_url(Path(sys.argv[1])))
with engine.connect() as conn:
    sql = "SELECT extversion FROM pg_extension WHERE extname = 'plpgsql'"
    print(conn.execute(text(sql)).scalar())
"""


def test_two_processes_start_the_same_server(tmp_path: Path) -> None:
    from bookmarkai_ml.db.embedded import stop_embedded

    data = tmp_path / "data"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(data)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    try:
        outputs = [p.communicate(timeout=120)[0].strip() for p in procs]
        assert [p.returncode for p in procs] == [0, 0]
        assert all(outputs), outputs
        assert (data / "pgdata" / "PG_VERSION").exists()
        pid = int((data / "pgdata" / "postmaster.pid").read_text().split()[0])
    finally:
        stopped = stop_embedded(data)
    assert stopped
    with pytest.raises(ProcessLookupError):  # the server is gone, not just asked to go
        os.kill(pid, 0)
