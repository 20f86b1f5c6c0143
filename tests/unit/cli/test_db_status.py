"""``db status`` reads the embedded server's state without starting it; stale PIDs do not count."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bookmarkai_ml.cli.main import app
from bookmarkai_ml.db.embedded import embedded_status, running_pid, stop_embedded


def _cluster(data_dir: Path, pid: int) -> Path:
    pgdata = data_dir / "pgdata"
    pgdata.mkdir(parents=True)
    (pgdata / "PG_VERSION").write_text("18\n")
    (pgdata / "postmaster.pid").write_text(f"{pid}\n{pgdata}\n")
    return pgdata


def test_a_missing_data_dir_is_reported_as_no_server(tmp_path: Path) -> None:
    state = embedded_status(tmp_path / "none")
    assert (state.running, state.created, state.size_bytes) == (False, False, 0)
    assert not (tmp_path / "none").exists()  # status starts and creates nothing


def test_a_pid_file_naming_a_live_process_that_is_not_postgres_is_stale(tmp_path: Path) -> None:
    _cluster(tmp_path, os.getpid())  # this is pytest, not a postmaster
    assert running_pid(tmp_path) is None
    state = embedded_status(tmp_path)
    assert state.created
    assert not state.running
    assert state.size_bytes > 0
    assert stop_embedded(tmp_path)  # nothing to stop, and no signal sent to us


def test_a_pid_file_naming_a_dead_process_is_stale(tmp_path: Path) -> None:
    _cluster(tmp_path, 2**22 + 12345)  # above pid_max's default: no such process
    assert running_pid(tmp_path) is None


def test_status_and_stop_commands_on_a_stopped_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cluster(tmp_path, os.getpid())
    monkeypatch.setenv("BOOKMARKAI_ML_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("BOOKMARKAI_ML_DATABASE_URL", raising=False)
    result = CliRunner().invoke(app, ["db", "status", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["running"] is False
    assert report["pid"] is None
    assert report["data_dir"] == str(tmp_path / "pgdata")
    assert report["created"] is True
    assert report["in_use"] is True
    stopped = CliRunner().invoke(app, ["db", "stop"])
    assert stopped.exit_code == 0
    assert "not running" in stopped.output
