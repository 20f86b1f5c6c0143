"""``db status`` and ``db stop`` on a real embedded server that ``migrate`` started."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bookmarkai_ml.db.embedded import stop_embedded

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOKMARKAI_ML_")}
    env["BOOKMARKAI_ML_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "bookmarkai_ml.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_migrate_leaves_the_server_running_and_db_stop_ends_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    try:
        migrated = _cli(data, "migrate", "--no-prepare", "--json")
        assert migrated.returncode == 0, migrated.stderr
        status = json.loads(_cli(data, "db", "status", "--json").stdout)
        assert status["running"] is True
        assert status["created"] is True
        assert status["data_dir"] == str(data / "pgdata")
        assert status["size_bytes"] > 1_000_000
        pid = status["pid"]

        stopped = _cli(data, "db", "stop")
        assert stopped.returncode == 0, stopped.stderr
        assert f"pid {pid}" in stopped.stderr
        with pytest.raises(ProcessLookupError):  # gone, not just asked to go
            os.kill(pid, 0)
        after = json.loads(_cli(data, "db", "status", "--json").stdout)
        assert (after["running"], after["pid"], after["created"]) == (False, None, True)
    finally:
        assert stop_embedded(data)
