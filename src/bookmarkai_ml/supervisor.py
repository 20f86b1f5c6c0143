"""The process manager behind ``up``: starts the components, restarts those that die,
stops them all on Ctrl-C or SIGTERM.

``up`` prepares the stack (migrations, ``models prepare``, the broker topology) and then
replaces itself with this module (``os.execve``: the same pid, so signals and process
managers see no change). A supervisor needs no SQLAlchemy, aio-pika, FastAPI or Celery,
and the ~70 MB of PSS they held in ``up`` sat idle for as long as the stack ran
(docs/performance.md, "Memory"). It imports the standard library, the restart policy
and the logging setup, nothing else.

Run as ``python -m bookmarkai_ml.supervisor SPEC``, SPEC the JSON that :func:`spec` makes.
A component that dies is restarted, as a process manager would, after a backoff that
doubles from 1 s to 30 s and resets once it has stayed up for a minute; one that dies
within seconds of every start, several times in a row (a broken configuration), stops
everything with exit 1 (``domain.restarts``). Stopping sends SIGTERM first, so Celery
finishes or returns its in-flight tasks (acks are late), then SIGKILL after a grace period.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bookmarkai_ml.config import TelemetrySettings
from bookmarkai_ml.domain.restarts import RestartPolicy
from bookmarkai_ml.observability.logging import configure_logging

GRACE_S = 20.0
POLL_S = 0.5
log = logging.getLogger("bookmarkai_ml.cli.up")  # the name up's lines have always had


@dataclass
class Component:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restart_at: float | None = None  # monotonic time of a pending restart
    policy: RestartPolicy = field(default_factory=RestartPolicy)

    def start(self) -> None:
        # Own process group: a terminal's Ctrl-C reaches only us, and we stop children in order.
        self.process = subprocess.Popen(self.argv, start_new_session=True)
        self.started_at, self.restart_at = time.monotonic(), None
        log.info("started %s (pid %d)", self.name, self.process.pid)


def spec(components: Sequence[Component], telemetry: TelemetrySettings) -> str:
    """The argument ``up`` hands this module: what to run, and how to log."""
    parts = [{"name": c.name, "argv": c.argv} for c in components]
    logs = {"log_level": telemetry.log_level, "log_json": telemetry.log_json}  # nothing secret
    return json.dumps({"components": parts, "logging": logs})


def supervise(part: Component) -> bool:
    """Restart ``part`` if it died and its backoff has passed; False to give up on it."""
    assert part.process is not None
    now = time.monotonic()
    if part.restart_at is not None:
        if now >= part.restart_at:
            part.start()
        return True
    if part.process.poll() is None:
        return True
    delay = part.policy.on_exit(ran_s=now - part.started_at)
    if delay is None:
        code = part.process.returncode
        log.error("%s exited (%s) too often right after starting", part.name, code)
        return False
    log.warning("%s exited (%s); restarting in %.0f s", part.name, part.process.returncode, delay)
    part.restart_at = now + delay
    return True


def stop(parts: Sequence[Component]) -> None:
    """SIGTERM to every running component, then SIGKILL to those still up after the grace."""
    running = [p for p in parts if p.process and p.process.poll() is None]
    for part in running:
        assert part.process is not None
        part.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    for part in running:
        assert part.process is not None
        try:
            part.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            part.process.kill()
            part.process.wait()
        log.info("stopped %s (exit %s)", part.name, part.process.returncode)


def run(parts: Sequence[Component]) -> int:
    """Start ``parts`` and keep them running until a signal; the exit code (0, or 1 if
    a component was given up on)."""
    stopping = False

    def _on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    for part in parts:
        part.start()
    code = 0
    try:
        while not stopping:
            if not all(supervise(part) for part in parts):
                stopping, code = True, 1
            time.sleep(POLL_S)
    finally:
        stop(parts)
    return code


def main(argv: Sequence[str]) -> int:
    document: dict[str, Any] = json.loads(argv[0])
    configure_logging(TelemetrySettings.model_validate(document["logging"]))
    parts = [Component(c["name"], list(c["argv"])) for c in document["components"]]
    return run(parts)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
