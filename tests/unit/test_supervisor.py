"""The supervisor ``up`` becomes: restarts a component that dies, stops every one on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from bookmarkai_ml.config import TelemetrySettings
from bookmarkai_ml.supervisor import Component, spec

pytestmark = pytest.mark.timeout(60)

# Appends its pid to a file, then waits to be stopped.
_COMPONENT = (
    "import os, sys, time; open(sys.argv[1], 'a').write(f'{os.getpid()}\\n'); time.sleep(600)"
)


def _pids(path: Path, at_least: int) -> list[int]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pids = [int(p) for p in path.read_text().split()] if path.exists() else []
        if len(pids) >= at_least:
            return pids
        time.sleep(0.05)
    raise AssertionError(f"{path} has fewer than {at_least} pids")


def test_a_killed_component_is_restarted_and_sigterm_stops_all(tmp_path: Path) -> None:
    parts = [
        Component(name, [sys.executable, "-c", _COMPONENT, str(tmp_path / name)])
        for name in ("api", "worker")
    ]
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "bookmarkai_ml.supervisor", spec(parts, TelemetrySettings())],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        (first,) = _pids(tmp_path / "worker", 1)
        (api,) = _pids(tmp_path / "api", 1)
        os.kill(first, signal.SIGKILL)
        assert _pids(tmp_path / "worker", 2)[1] != first  # a new process, after the backoff
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=30) == 0
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
    _, log = supervisor.communicate()
    second = _pids(tmp_path / "worker", 2)[1]
    for pid in (api, second):  # nothing left running
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert "worker exited (-9); restarting in 1 s" in log, log
    assert "stopped api" in log, log
    assert "stopped worker" in log, log
