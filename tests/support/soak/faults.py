"""The fault driver: one seeded ``random.Random`` picks the kinds, the order, the gaps and
each fault's target and length, so a run with the same seed injects the same faults.

Kinds (each one thing that happens to production systems):

- ``worker_child``: SIGKILL one pool child of a worker (OOM killer); Celery's master
  forks a new one and the message comes back (acks are late).
- ``worker_main``: SIGKILL a worker's whole process group (its container dies); ``up``
  restarts it.
- ``relay``: SIGKILL the outbox relay; ``up`` restarts it, unsent rows wait in Postgres.
- ``api``: SIGKILL the API mid-request; ``up`` restarts it, clients retry.
- ``broker_restart``: ``rabbitmqctl stop_app``, a few seconds, ``start_app``.
- ``pg_restart``: stop the embedded Postgres as ``bookmarkai-ml db stop`` does (a fast
  shutdown), then ``bookmarkai-ml migrate`` starts it again.
- ``db_cut``: abort every database connection at the TCP proxy.
- ``memory_alarm``: ``set_vm_memory_high_watermark`` to almost 0 (the broker blocks every
  publisher), a few seconds, then back to 0.6.

Each fault runs in a thread of its own, so faults overlap: after a fault that lasts
seconds (broker down, memory alarm, Postgres restart), half the time the next one starts
0.5-2.5 s later, while it still lasts: a worker is killed while the broker is down, the API
while Postgres restarts. Two faults on the broker (or two on the
database) never run at once, so one cannot undo the other.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
import time
from dataclasses import dataclass

import psutil

from bookmarkai_ml.db.embedded import stop_embedded
from support.soak.stack import Stack

KINDS = (
    "worker_child",
    "worker_main",
    "relay",
    "api",
    "broker_restart",
    "pg_restart",
    "db_cut",
    "memory_alarm",
)
WORKERS = ("worker ml.summarize", "worker ml.transcribe", "worker ml.embed")  # as up names them


#: The faults that act on one shared resource take its lock.
_RESOURCE = {
    "broker_restart": "broker",
    "memory_alarm": "broker",
    "pg_restart": "db",
    "db_cut": "db",
}


#: The faults that last seconds; half the time the next one starts while they do.
_LASTING = frozenset({"broker_restart", "memory_alarm", "pg_restart"})


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected fault: when (epoch seconds), what, on what, and how long it lasted."""

    kind: str
    at: float
    target: str
    duration_s: float

    def overlaps(self, other: Fault) -> bool:
        return self.at <= other.at + other.duration_s and other.at <= self.at + self.duration_s


def plan(rng: random.Random, *, total: int, each: int) -> list[str]:
    """``total`` kinds in a random order, every kind at least ``each`` times."""
    kinds = [k for k in KINDS for _ in range(each)]
    kinds += [rng.choice(KINDS) for _ in range(max(0, total - len(kinds)))]
    rng.shuffle(kinds)
    return kinds


class FaultDriver:
    """Starts the planned faults at random gaps, each in a thread of its own."""

    def __init__(self, stack: Stack, rng: random.Random, kinds: list[str], mean_gap_s: float):
        self._stack, self._rng, self._kinds, self._gap = stack, rng, kinds, mean_gap_s
        self._locks = {"broker": threading.Lock(), "db": threading.Lock()}
        self._done = threading.Lock()
        self.faults: list[Fault] = []
        self.errors: list[str] = []

    def run(self, stop: threading.Event) -> None:
        """Start each planned fault after a random gap; return when all have ended."""
        started, previous = [], ""
        for kind in self._kinds:
            # Every draw happens here, in plan order, so a seed repeats the same faults.
            gap = self._rng.uniform(0.2 * self._gap, 1.8 * self._gap)
            if previous in _LASTING and self._rng.random() < 0.5:
                gap = self._rng.uniform(0.5, 2.5)  # strike while the last one still lasts
            rng, previous = random.Random(self._rng.randrange(2**32)), kind
            if stop.wait(gap):
                break
            thread = threading.Thread(target=self._inject, args=(kind, rng))
            thread.start()
            started.append(thread)
        for thread in started:
            thread.join()

    def overlapping(self) -> int:
        """How many injected faults overlapped another in time."""
        return sum(1 for f in self.faults if any(f is not g and f.overlaps(g) for g in self.faults))

    def _inject(self, kind: str, rng: random.Random) -> None:
        resource = _RESOURCE.get(kind)
        with self._locks[resource] if resource else contextlib.nullcontext():
            at = time.time()
            try:
                target = str(getattr(self, f"_{kind}")(rng))
            except Exception as exc:  # record it: the account shows it
                with self._done:
                    self.errors.append(f"{kind}: {exc!r}")
                return
        with self._done:
            self.faults.append(Fault(kind, at, target, round(time.time() - at, 2)))

    def _component(self, name: str) -> psutil.Process:
        for _ in range(60):  # ``up`` may be restarting it after an earlier fault
            if (proc := self._stack.components().get(name)) is not None:
                return proc
            time.sleep(0.5)
        raise RuntimeError(f"{name} is not running (running: {sorted(self._stack.components())})")

    def _kill_group(self, name: str) -> str:
        proc = self._component(name)
        os.killpg(proc.pid, signal.SIGKILL)  # up starts each in a session of its own
        return f"{name} (pid {proc.pid})"

    def _worker_child(self, rng: random.Random) -> str:
        name = rng.choice(WORKERS)
        for _ in range(60):
            with contextlib.suppress(psutil.Error):
                children = self._component(name).children()
                if children:
                    child = rng.choice(children)
                    child.send_signal(signal.SIGKILL)
                    return f"{name} child (pid {child.pid})"
            time.sleep(0.5)
        raise RuntimeError(f"{name} has no pool child")

    def _worker_main(self, rng: random.Random) -> str:
        return self._kill_group(rng.choice(WORKERS))

    def _relay(self, rng: random.Random) -> str:
        return self._kill_group("relay")

    def _api(self, rng: random.Random) -> str:
        return self._kill_group("api")

    def _broker_restart(self, rng: random.Random) -> str:
        down = rng.uniform(2, 6)
        self._stack.broker.stop_app()
        try:
            time.sleep(down)
        finally:
            self._stack.broker.start_app()
        return f"broker app down {down:.1f} s"

    def _pg_restart(self, rng: random.Random) -> str:
        # What `bookmarkai-ml db stop` does, without its start-up time; then an operator's
        # `migrate` starts the server again.
        if not stop_embedded(self._stack.pg_dir):
            raise RuntimeError("the embedded Postgres did not stop")
        self._stack.pg_command("migrate", "--no-prepare")
        return "embedded Postgres"

    def _db_cut(self, rng: random.Random) -> str:
        return f"{self._stack.proxy.cut()} connections"

    def _memory_alarm(self, rng: random.Random) -> str:
        blocked = rng.uniform(3, 8)
        self._stack.broker.ctl("set_vm_memory_high_watermark", "0.0000001")
        try:
            time.sleep(blocked)
        finally:
            self._stack.broker.ctl("set_vm_memory_high_watermark", "0.6")
        return f"publishers blocked {blocked:.1f} s"
