"""Soft time limits for the threads and solo pools, where Celery enforces none.

Celery enforces time limits only in the prefork pool, by signal
(https://docs.celeryq.dev/en/stable/userguide/workers.html#time-limits). Here a task's
thread gets ``SoftTimeLimitExceeded`` as an asynchronous exception, which it sees at its
next Python bytecode (a native call finishes first, as with the signal). One watchdog
thread per process serves every running task, so a task costs a dict entry, not a thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import threading
import time
from collections.abc import Iterator

from celery.exceptions import SoftTimeLimitExceeded


class _SoftLimits:
    """The per-process watchdog: deadlines by token, one thread raising at each."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: dict[int, tuple[float, int]] = {}  # token -> (deadline, thread id)
        self._tokens = itertools.count()
        self._pid = 0

    @contextlib.contextmanager
    def limit(self, seconds: float) -> Iterator[None]:
        token, target = next(self._tokens), threading.get_ident()
        with self._cond:
            if self._pid != os.getpid():  # first use in this process
                self._pid = os.getpid()
                threading.Thread(target=self._watch, name="soft-limits", daemon=True).start()
            self._due[token] = (time.monotonic() + seconds, target)
            self._cond.notify()
        try:
            yield
        finally:
            with self._cond:
                if self._due.pop(token, None) is None:  # it fired: drop it if still pending
                    _set_async_exc(target, None)

    def _watch(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for token, (deadline, target) in list(self._due.items()):
                    if deadline <= now:
                        del self._due[token]
                        _set_async_exc(target, SoftTimeLimitExceeded)
                next_due = min((deadline for deadline, _ in self._due.values()), default=None)
                self._cond.wait(None if next_due is None else max(0.0, next_due - now))


#: ``with soft_limit_in_thread(seconds): ...`` raises in this thread past ``seconds``.
soft_limit_in_thread = _SoftLimits().limit


def _set_async_exc(thread_id: int, exc: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc else None
    )
