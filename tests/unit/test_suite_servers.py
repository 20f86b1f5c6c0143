"""The test suite's own server is stopped by the last session using it, never by another."""

from __future__ import annotations

from pathlib import Path

import pytest

import support.embedded as suite_servers


def test_only_the_last_session_out_stops_the_shared_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stopped: list[Path] = []

    def stop(data_dir: Path) -> bool:
        stopped.append(data_dir)
        return True

    monkeypatch.setattr(suite_servers, "stop_embedded", stop)
    first = suite_servers.shared_server(tmp_path)
    second = suite_servers.shared_server(tmp_path)
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert stopped == []  # the second session still uses it
    second.__exit__(None, None, None)
    assert stopped == [tmp_path]
