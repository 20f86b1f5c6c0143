"""The handler registry builds each handler lazily, once, from settings."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import SummaryResult, TaskType
from bookmarkai_ml.errors import BudgetExceededError, ConfigurationError
from bookmarkai_ml.fakes import FakeBudgetLedger
from bookmarkai_ml.ports import CostLine, JobContext, TaskOutcome
from bookmarkai_ml.workers import handlers
from bookmarkai_ml.workers.tasks import as_kwargs


def _outcome(message: Any, ctx: JobContext) -> TaskOutcome:
    return TaskOutcome(
        result=SummaryResult(summary="s", model="m", provider="p"), cost=CostLine("p", "m")
    )


def test_factories_are_built_once_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handlers, "_FACTORIES", {})
    built: list[Settings] = []

    def factory(settings: Settings) -> handlers.Handler:
        built.append(settings)
        return _outcome

    handlers.register(TaskType.SUMMARIZE, factory)
    registry = handlers.HandlerRegistry(Settings(_env_file=None))  # type: ignore[call-arg]
    assert built == []
    assert registry.get(TaskType.SUMMARIZE) is registry.get(TaskType.SUMMARIZE)
    assert len(built) == 1
    with pytest.raises(ConfigurationError, match="embed"):
        registry.get(TaskType.EMBED)
    with pytest.raises(ConfigurationError, match="already"):
        handlers.register("summarize", factory, replace=False)


def test_unknown_plugin_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="no_such_module"):
        handlers.load_plugins(["no_such_module_bkml"])


def test_without_a_ledger_nothing_may_spend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handlers, "_LEDGER", [])
    ledger = handlers.build_ledger(Settings(_env_file=None), None)  # type: ignore[call-arg]
    with pytest.raises(Exception, match="no budget ledger"):
        ledger.reserve(job_id=uuid4(), task="summarize", usd=Decimal("0.01"))


def test_fake_ledger_refuses_to_overshoot() -> None:
    ledger = FakeBudgetLedger(limit_usd=Decimal("1"))
    first, second = uuid4(), uuid4()
    ledger.reserve(job_id=first, task="transcribe", usd=Decimal("0.6"))
    with pytest.raises(BudgetExceededError):
        ledger.reserve(job_id=second, task="transcribe", usd=Decimal("0.6"))
    ledger.release(job_id=first)
    ledger.reserve(job_id=second, task="transcribe", usd=Decimal("0.6"))
    assert ledger.released == [first]


def test_seed_positional_arguments_become_kwargs() -> None:
    assert as_kwargs(TaskType.SUMMARIZE, ("s1", "text", {}), {}) == {
        "share_id": "s1",
        "content": "text",
        "options": {},
    }
    extra = as_kwargs(TaskType.EMBED, ("s1", "t", {}, "surplus"), {})
    assert extra["_unexpected_positional_args"] == ["surplus"]


def test_lazy_factory_imports_on_first_build() -> None:
    factory = handlers.lazy("bkml_lazy_target_does_not_exist:build")
    with pytest.raises(ModuleNotFoundError):
        factory(Settings(_env_file=None))  # type: ignore[call-arg]
    built = handlers.lazy("bookmarkai_ml.fakes:FakeBudgetLedger")
    assert built.__name__ == "factory"
