"""What a running job's handler holds: its budget reservation and its kept-alive lease."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from uuid import UUID

from bookmarkai_ml.contracts import TaskType
from bookmarkai_ml.ports import BudgetLedger

log = logging.getLogger(__name__)


class RunContext:
    """``ports.JobContext`` for one running job.

    ``renew`` extends the job's lease. Past ``time_limit_s`` (the task's hard limit) the
    lease is no longer renewed, so a run its pool cannot kill loses the job to the sweeper.
    """

    def __init__(
        self,
        *,
        job_id: UUID,
        task: TaskType,
        ledger: BudgetLedger,
        renew: Callable[[], None],
        time_limit_s: float | None = None,
    ) -> None:
        self.job_id = job_id
        self._task = task
        self._ledger = ledger
        self._renew = renew
        self._renew_until = None if time_limit_s is None else time.monotonic() + time_limit_s
        self.reserved = False

    def reserve(self, estimate_usd: Decimal) -> None:
        self._ledger.reserve(job_id=self.job_id, task=self._task.value, usd=estimate_usd)
        self.reserved = True

    def heartbeat(self) -> None:
        if self._renew_until is not None and time.monotonic() > self._renew_until:
            return  # past the hard time limit: let the lease lapse
        self._renew()


class KeepLeased:
    """Heartbeats the lease from a side thread while a handler runs.

    A handler may also call ``ctx.heartbeat()`` itself; this makes a long model call
    that forgets to safe from being taken over as if its worker had died.
    """

    def __init__(self, ctx: RunContext, *, every_s: float) -> None:
        self._ctx = ctx
        self._every_s = max(0.5, every_s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="lease-heartbeat", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self._every_s):
            try:
                self._ctx.heartbeat()
            except Exception as exc:  # lost lease or DB blip: the finish guard decides
                log.warning("lease heartbeat for job %s failed: %s", self._ctx.job_id, exc)

    def __enter__(self) -> KeepLeased:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
