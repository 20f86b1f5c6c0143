"""The job repository: the one owner of ``ml_jobs`` state (every status UPDATE lives here).

- :mod:`.rows`: transitions **in the caller's transaction** (a ``Session`` first): submit
  with its outbox row, adopt, read, cancel, retry, requeue, fail-unfinished, the job tree.
- :mod:`.runs`: :class:`PostgresJobRepository`, the ``ports.JobRepository`` the runtime,
  the relay's lease sweeper and the local path use; each call one transaction.
"""

from bookmarkai_ml.db.jobs.rows import (
    RETRYABLE_STATES,
    adopt,
    cancel,
    enqueue,
    fail_unfinished,
    key_for,
    requeue,
    retry,
    submit,
    tree,
    view,
)
from bookmarkai_ml.db.jobs.runs import PostgresJobRepository

__all__ = [
    "RETRYABLE_STATES",
    "PostgresJobRepository",
    "adopt",
    "cancel",
    "enqueue",
    "fail_unfinished",
    "key_for",
    "requeue",
    "retry",
    "submit",
    "tree",
    "view",
]
