"""The task table: one row per task type, unique names, lookups that round-trip."""

from __future__ import annotations

import dataclasses

import pytest

from bookmarkai_ml.contracts import TASKS, TaskSpec, TaskTable, TaskType
from bookmarkai_ml.errors import ContractError, UnknownTaskError


def test_every_task_type_has_one_row_in_task_type_order() -> None:
    assert list(TASKS) == list(TaskType)
    for task, row in TASKS.items():
        assert row.type is task


def test_queues_and_celery_names_are_unique_and_the_seed_names() -> None:
    assert TASKS.queues == ("ml.summarize", "ml.transcribe", "ml.embed")
    names = [row.celery_name for row in TASKS.values()]
    assert names == ["summarize_content", "transcribe_media", "embed_content"]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("task", list(TaskType))
def test_lookups_round_trip(task: TaskType) -> None:
    row = TASKS[task]
    assert TASKS.spec(task) is row
    assert TASKS.spec(task.value) is row
    assert TASKS.by_queue(row.queue) is row
    assert TASKS.by_celery_name(row.celery_name) is row


@pytest.mark.parametrize("task", list(TaskType))
def test_a_row_agrees_with_its_message_model(task: TaskType) -> None:
    row = TASKS[task]
    assert row.message.model_fields["task"].default == task
    assert row.positional[0] == "share_id"
    assert set(row.positional) <= set(row.message.model_fields)


@pytest.mark.parametrize(
    ("lookup", "key"),
    [
        (TASKS.spec, "translate"),
        (TASKS.by_queue, "ml.translate"),
        (TASKS.by_celery_name, "translate_content"),
    ],
)
def test_an_unknown_key_is_a_contract_error_and_a_key_error(lookup: object, key: str) -> None:
    assert callable(lookup)
    with pytest.raises(UnknownTaskError, match=key) as raised:
        lookup(key)
    assert isinstance(raised.value, KeyError)
    assert isinstance(raised.value, ContractError)
    assert str(raised.value).startswith(("unknown", "no task"))  # not KeyError's quoted repr


def test_mapping_access_by_an_unknown_key_misses() -> None:
    assert TASKS.get("translate") is None  # type: ignore[call-overload]
    assert "translate" not in TASKS


def test_rows_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        TASKS[TaskType.EMBED].queue = "elsewhere"  # type: ignore[misc]


def test_a_table_refuses_two_rows_with_one_queue() -> None:
    summarize = TASKS[TaskType.SUMMARIZE]
    clash: TaskSpec = dataclasses.replace(TASKS[TaskType.EMBED], queue=summarize.queue)
    with pytest.raises(ValueError, match="distinct"):
        TaskTable(summarize, clash)
