"""Versioned message and result contracts and the task table, shared by producers and workers."""

from bookmarkai_ml.contracts.codec import decode_task, encode_task
from bookmarkai_ml.contracts.messages import (
    SCHEMA_VERSION,
    EmbedOptions,
    EmbedTask,
    SummarizeOptions,
    SummarizeTask,
    TaskMessage,
    TaskType,
    TranscribeOptions,
    TranscribeTask,
    TranscriptSegmentIn,
)
from bookmarkai_ml.contracts.results import (
    EmbedResult,
    Segment,
    SummaryResult,
    TranscriptResult,
    Word,
)
from bookmarkai_ml.contracts.tasks import TASKS, TaskSpec, TaskTable

__all__ = [
    "SCHEMA_VERSION",
    "TASKS",
    "EmbedOptions",
    "EmbedResult",
    "EmbedTask",
    "Segment",
    "SummarizeOptions",
    "SummarizeTask",
    "SummaryResult",
    "TaskMessage",
    "TaskSpec",
    "TaskTable",
    "TaskType",
    "TranscribeOptions",
    "TranscribeTask",
    "TranscriptResult",
    "TranscriptSegmentIn",
    "Word",
    "decode_task",
    "encode_task",
]
