"""``settings.tasks``: per-task defaults, nested environment variables, deprecated flat names."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bookmarkai_ml.config import (
    DEPRECATED_NAMES,
    BudgetSettings,
    Settings,
    TaskSettings,
    WorkerSettings,
    env_name,
)
from bookmarkai_ml.contracts import TaskType


def _settings(**kwargs: Any) -> Settings:
    return Settings(_env_file=None, **kwargs)  # type: ignore[call-arg]


def test_every_task_type_has_its_seed_defaults() -> None:
    tasks = _settings().tasks
    assert list(tasks) == list(TaskType)
    assert {t: s.prefetch_multiplier for t, s in tasks.items()} == {
        TaskType.SUMMARIZE: None,
        TaskType.TRANSCRIBE: 1,
        TaskType.EMBED: None,
    }
    assert [s.time_limit_s for s in tasks.values()] == [600, 1500, 600]
    assert [s.metrics_port for s in tasks.values()] == [9091, 9092, 9093]
    assert all(s.max_tasks_per_child is None for s in tasks.values())
    assert all(s.per_hour_usd == Decimal(1) for s in tasks.values())
    assert all(s.per_day_usd == Decimal(10) for s in tasks.values())


def test_a_nested_variable_overrides_one_field_of_one_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BOOKMARKAI_ML_TASKS__TRANSCRIBE__PREFETCH_MULTIPLIER", "2")
    monkeypatch.setenv("BOOKMARKAI_ML_TASKS__EMBED__PER_DAY_USD", "2.5")
    tasks = _settings().tasks
    assert list(tasks) == list(TaskType)
    transcribe = tasks[TaskType.TRANSCRIBE]
    assert transcribe.prefetch_multiplier == 2
    assert (transcribe.time_limit_s, transcribe.metrics_port) == (1500, 9092)  # kept
    assert tasks[TaskType.EMBED].per_day_usd == Decimal("2.5")
    assert tasks[TaskType.EMBED].metrics_port == 9093
    assert tasks[TaskType.SUMMARIZE] == TaskSettings.defaults(TaskType.SUMMARIZE)


def test_nested_variables_are_read_from_the_env_file(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("BOOKMARKAI_ML_TASKS__SUMMARIZE__TIME_LIMIT_S=300\n")
    s = Settings(_env_file=env)  # type: ignore[call-arg]
    assert s.tasks[TaskType.SUMMARIZE].time_limit_s == 300
    assert s.tasks[TaskType.SUMMARIZE].metrics_port == 9091


def test_a_partial_dict_from_python_keeps_the_other_defaults() -> None:
    s = _settings(tasks={"embed": {"max_tasks_per_child": 500}})
    assert s.tasks[TaskType.EMBED].max_tasks_per_child == 500
    assert s.tasks[TaskType.EMBED].time_limit_s == 600
    assert s.tasks[TaskType.TRANSCRIBE].prefetch_multiplier == 1


def test_an_unknown_task_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOOKMARKAI_ML_TASKS__TRANSLATE__TIME_LIMIT_S", "5")
    with pytest.raises(ValidationError, match="translate"):
        _settings()


def test_the_flat_fields_are_gone() -> None:
    old = {old for (_, old) in DEPRECATED_NAMES}
    assert not old & set(WorkerSettings.model_fields)
    assert not old & set(BudgetSettings.model_fields)


_VALUES = {
    "prefetch_multiplier": ("7", 7),
    "max_tasks_per_child": ("70", 70),
    "time_limit_s": ("77", 77),
    "metrics_port": ("7777", 7777),
    "per_hour_usd": ("7.5", Decimal("7.5")),
    "per_day_usd": ("75", Decimal(75)),
}


@pytest.mark.parametrize(
    ("old", "new"), list(DEPRECATED_NAMES.items()), ids=lambda v: "_".join(map(str, v))
)
def test_a_deprecated_flat_name_warns_and_is_mapped(
    monkeypatch: pytest.MonkeyPatch, old: tuple[str, str], new: tuple[TaskType, str]
) -> None:
    (task, field), (raw, expected) = new, _VALUES[new[1]]
    monkeypatch.setenv(env_name(*old), raw)
    with pytest.warns(DeprecationWarning, match=env_name("tasks", task, field)):
        s = _settings()
    assert s.tasks[task].model_dump()[field] == expected
    others = s.tasks[task].model_dump(exclude={field})
    assert others == TaskSettings.defaults(task).model_dump(exclude={field})


def test_the_warning_names_both_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOOKMARKAI_ML_WORKER__TRANSCRIBE_PREFETCH_MULTIPLIER", "2")
    with pytest.warns(DeprecationWarning, match="is deprecated") as caught:
        s = _settings()
    (warning,) = caught
    assert str(warning.message) == (
        "BOOKMARKAI_ML_WORKER__TRANSCRIBE_PREFETCH_MULTIPLIER is deprecated; "
        "use BOOKMARKAI_ML_TASKS__TRANSCRIBE__PREFETCH_MULTIPLIER"
    )
    assert s.tasks[TaskType.TRANSCRIBE].prefetch_multiplier == 2


def test_the_new_name_wins_over_the_old_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOOKMARKAI_ML_WORKER__METRICS_PORT_EMBED", "7000")
    monkeypatch.setenv("BOOKMARKAI_ML_TASKS__EMBED__METRICS_PORT", "8000")
    with pytest.warns(DeprecationWarning, match="METRICS_PORT_EMBED"):
        s = _settings()
    assert s.tasks[TaskType.EMBED].metrics_port == 8000


def test_a_deprecated_name_in_the_env_file_warns_too(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("BOOKMARKAI_ML_BUDGETS__SUMMARIZE_PER_HOUR_USD=3\n")
    with pytest.warns(DeprecationWarning, match="TASKS__SUMMARIZE__PER_HOUR_USD"):
        s = Settings(_env_file=env)  # type: ignore[call-arg]
    assert s.tasks[TaskType.SUMMARIZE].per_hour_usd == Decimal(3)
