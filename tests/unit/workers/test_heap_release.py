"""After a task, the pool process returns the heap it freed to the kernel (``workers.memory``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from celery import signals

from bookmarkai_ml.workers import memory
from bookmarkai_ml.workers.app import make_worker_app
from support.settings import broker_settings

# 2,000 blocks of 64 KiB (under glibc's mmap threshold, so on the heap), written, then all
# freed but the last, which pins the top of the heap: glibc's own trimming cannot shrink
# it, and the ~125 MB stay resident until something releases the free pages in between.
_FRAGMENTED_HEAP = textwrap.dedent(
    """
    import ctypes, json, sys
    from bookmarkai_ml.workers.memory import release_free_heap

    def rss_kb():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    blocks = [libc.malloc(64 * 1024) for _ in range(2000)]
    for b in blocks:
        ctypes.memset(b, 1, 64 * 1024)
    for b in blocks[:-1]:
        libc.free(b)
    freed = rss_kb()
    released = release_free_heap()
    print(json.dumps({"freed": freed, "after": rss_kb(), "released": released}))
    """
)


def test_free_heap_pages_go_back_to_the_kernel() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _FRAGMENTED_HEAP], capture_output=True, text=True, check=True
    )
    figures = __import__("json").loads(out.stdout)
    assert figures["released"] is True  # glibc: this machine and the images we ship
    # at least 100 of the ~125 MB freed left the process
    assert figures["freed"] - figures["after"] > 100 * 1024, figures


def test_the_worker_releases_after_every_task() -> None:
    make_worker_app(broker_settings(pool="prefork"))
    receivers = [uid for (uid, _), _ in signals.task_postrun.receivers]
    assert "bookmarkai_ml_release_heap" in receivers
    memory.connect()  # idempotent: one receiver, whoever connects again
    receivers = [uid for (uid, _), _ in signals.task_postrun.receivers]
    assert receivers.count("bookmarkai_ml_release_heap") == 1
