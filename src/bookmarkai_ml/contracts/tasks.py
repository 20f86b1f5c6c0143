"""The task table: one row per task type, the only place a per-task fact is written.

A row names the Celery task and its quorum queue (the original design's names, see
``docs/messages.md``), its positional argument order, the message model, and
the defaults of the per-task settings that differ between tasks (``settings.tasks``
in ``config.py`` starts from them). Everything that maps a queue or a Celery task name
back to a task type asks this table.

    from bookmarkai_ml.contracts import TASKS, TaskType

    TASKS[TaskType.EMBED].queue                  # "ml.embed"
    TASKS.spec("embed").celery_name              # "embed_content"
    TASKS.by_queue("ml.transcribe").type         # TaskType.TRANSCRIBE
    TASKS.by_celery_name("summarize_content")    # the summarize row
    TASKS.queues                                 # every queue, in TaskType order
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from bookmarkai_ml.contracts.messages import (
    EmbedTask,
    SummarizeTask,
    TaskType,
    TranscribeTask,
)
from bookmarkai_ml.errors import UnknownTaskError

MessageType = type[SummarizeTask] | type[TranscribeTask] | type[EmbedTask]


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskSpec:
    """One task type's static facts; the ``*_s``/port/prefetch values are defaults."""

    type: TaskType
    #: Celery task name (``summarize_content`` is the original design's signature).
    celery_name: str
    #: The quorum queue its messages go to (routing key equals the queue name).
    queue: str
    #: Argument names in the original positional order, for producers that send ``args``.
    positional: tuple[str, ...]
    #: The pydantic model of its kwargs (``docs/messages.md``).
    message: MessageType
    #: Default hard time limit; must stay below ``worker.consumer_timeout_s``.
    time_limit_s: int
    #: Default port of the worker's ``/metrics`` (9091-9093, design defaults).
    metrics_port: int
    #: Default prefetch of its workers; ``None`` = ``worker.prefetch_multiplier``.
    prefetch_multiplier: int | None = None


class TaskTable(Mapping[TaskType, TaskSpec]):
    """The rows keyed by task type, with lookups by queue and by Celery name.

    Raises:
        ValueError: two rows share a task type, a queue or a Celery name.
    """

    def __init__(self, *rows: TaskSpec) -> None:
        self._rows = {row.type: row for row in rows}
        self._by_queue = {row.queue: row for row in rows}
        self._by_celery_name = {row.celery_name: row for row in rows}
        if not len(rows) == len(self._rows) == len(self._by_queue) == len(self._by_celery_name):
            raise ValueError("task table rows must have distinct types, queues and Celery names")

    def __getitem__(self, task: TaskType) -> TaskSpec:
        return self.spec(task)

    def __iter__(self) -> Iterator[TaskType]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def spec(self, task: TaskType | str) -> TaskSpec:
        """The row of ``task`` (a ``TaskType`` or its value, ``"embed"``).

        Raises:
            UnknownTaskError: no such task type.
        """
        try:
            return self._rows[TaskType(task)]
        except (ValueError, KeyError) as exc:
            raise UnknownTaskError(f"unknown task type {task!r}") from exc

    def by_queue(self, queue: str) -> TaskSpec:
        """The row whose messages go to ``queue``.

        Raises:
            UnknownTaskError: no task uses that queue.
        """
        return _find(self._by_queue, queue, f"no task uses queue {queue!r}")

    def by_celery_name(self, name: str) -> TaskSpec:
        """The row registered as Celery task ``name``.

        Raises:
            UnknownTaskError: no task has that name.
        """
        return _find(self._by_celery_name, name, f"no task is named {name!r}")

    @property
    def queues(self) -> tuple[str, ...]:
        """Every task queue, in row order."""
        return tuple(self._by_queue)


def _find(rows: Mapping[str, TaskSpec], key: str, missing: str) -> TaskSpec:
    try:
        return rows[key]
    except KeyError as exc:
        raise UnknownTaskError(missing) from exc


#: The one task table, in ``TaskType`` order.
TASKS = TaskTable(
    TaskSpec(
        type=TaskType.SUMMARIZE,
        celery_name="summarize_content",
        queue="ml.summarize",
        positional=("share_id", "content", "options"),
        message=SummarizeTask,
        time_limit_s=600,
        metrics_port=9091,
    ),
    TaskSpec(
        type=TaskType.TRANSCRIBE,
        celery_name="transcribe_media",
        queue="ml.transcribe",
        positional=("share_id", "media_url", "options"),
        message=TranscribeTask,
        time_limit_s=1500,
        metrics_port=9092,
        prefetch_multiplier=1,  # one long task at a time (docs/operations.md)
    ),
    TaskSpec(
        type=TaskType.EMBED,
        celery_name="embed_content",
        queue="ml.embed",
        positional=("share_id", "content", "options"),
        message=EmbedTask,
        time_limit_s=600,
        metrics_port=9093,
    ),
)
