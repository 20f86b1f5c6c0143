"""Versioned message and result contracts shared with every producer and worker."""

from bookmarkai_ml.contracts.codec import decode_task, encode_task
from bookmarkai_ml.contracts.messages import (
    QUEUES,
    SCHEMA_VERSION,
    TASK_NAMES,
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

__all__ = [
    "QUEUES",
    "SCHEMA_VERSION",
    "TASK_NAMES",
    "EmbedOptions",
    "EmbedResult",
    "EmbedTask",
    "Segment",
    "SummarizeOptions",
    "SummarizeTask",
    "SummaryResult",
    "TaskMessage",
    "TaskType",
    "TranscribeOptions",
    "TranscribeTask",
    "TranscriptResult",
    "TranscriptSegmentIn",
    "Word",
    "decode_task",
    "encode_task",
]
