"""A worker takes jobs only once its models are loaded.

Each process that runs tasks loads the models of its queues before it takes one: a
prefork child in ``worker_process_init`` (before it tells the parent it is up, so the
parent never hands it a task earlier), a solo or threads worker in ``worker_init``
(before it consumes). Per process, not in the prefork parent: CTranslate2 (Whisper)
starts its threads when it loads, and threads do not survive a fork.
https://docs.celeryq.dev/en/stable/userguide/signals.html#worker-process-init
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from celery import signals

from bookmarkai_ml.bootstrap import models
from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import TASKS
from bookmarkai_ml.errors import BookmarkAIError
from bookmarkai_ml.workers import handlers

log = logging.getLogger(__name__)


def connect(settings: Settings, queues: Sequence[str] | None = None) -> None:
    """Load the models of ``queues`` (default all) in each process that runs their tasks.

    A task type whose handler a plugin replaced (``handlers.register``) loads nothing here:
    its handler knows what it needs.
    """
    tasks = [TASKS.by_queue(q).type for q in (queues or TASKS.queues)]

    def warm(**_: Any) -> None:
        started = time.perf_counter()
        ours = [t for t in tasks if t not in handlers.registered()]
        try:
            loaded = models.warm_up(settings, ours)
        except BookmarkAIError as exc:
            # Not fatal here: a child that died in init would be restarted in a loop. The
            # jobs fail with this same error, and `models prepare` names the file.
            log.error("a model did not load (%s): %s", exc.code, exc)
            return
        took = time.perf_counter() - started
        log.info("models loaded in %.1f s: %s", took, ", ".join(loaded) or "none (API models)")

    prefork = settings.worker.pool == "prefork"
    signal = signals.worker_process_init if prefork else signals.worker_init
    signal.connect(warm, weak=False, dispatch_uid="bookmarkai_ml_warm_up")
