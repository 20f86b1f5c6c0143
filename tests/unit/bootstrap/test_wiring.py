"""The composition root: what it hands each service, and that building loads no model.

No database is reached: an engine connects on its first query, and these tests never
make one (the URL points at a closed port).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bookmarkai_ml import bootstrap
from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import TaskType
from bookmarkai_ml.db.engine import make_engine
from bookmarkai_ml.domain.model_selection import LOCAL_MODEL
from bookmarkai_ml.fakes import FakeBudgetLedger
from bookmarkai_ml.ports import JobContext, TaskOutcome
from bookmarkai_ml.services.budgets import BudgetService
from bookmarkai_ml.services.embedding import EmbeddingService
from bookmarkai_ml.services.summarization import SummarizationService
from bookmarkai_ml.services.transcription import TranscriptionService
from bookmarkai_ml.workers import handlers

NOWHERE = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database_url=NOWHERE, data_dir=tmp_path, environment="test")


@pytest.fixture
def db() -> Iterator[bootstrap.Database]:
    database = bootstrap.Database.on(make_engine(NOWHERE))
    yield database
    database.close()


@pytest.fixture
def no_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget what other tests registered: only bootstrap's defaults remain."""
    monkeypatch.setattr(handlers, "_FACTORIES", {})
    monkeypatch.setattr(handlers, "_LEDGER", [])


@pytest.mark.usefixtures("no_plugins")
def test_the_embed_handler_writes_through_the_database_it_is_given(
    settings: Settings, db: bootstrap.Database
) -> None:
    """A worker opens one pool; the embed handler must not open a second one."""
    handler = bootstrap.handlers(settings, db).get(TaskType.EMBED)
    assert isinstance(handler, EmbeddingService)
    assert handler._sessions is db.sessions


@pytest.mark.usefixtures("no_plugins")
def test_every_task_type_has_a_default_handler(settings: Settings, db: bootstrap.Database) -> None:
    registry = bootstrap.handlers(settings, db)
    assert isinstance(registry.get(TaskType.TRANSCRIBE), TranscriptionService)
    assert isinstance(registry.get(TaskType.SUMMARIZE), SummarizationService)
    assert registry.get(TaskType.SUMMARIZE) is registry.get(TaskType.SUMMARIZE)


@pytest.mark.usefixtures("no_plugins")
def test_a_plugin_registration_wins_over_the_default(
    settings: Settings, db: bootstrap.Database
) -> None:
    def plugin(message: Any, ctx: JobContext) -> TaskOutcome:
        raise NotImplementedError

    handlers.register(TaskType.SUMMARIZE, lambda _settings: plugin)
    handlers.register_ledger(lambda _settings, _sessions: FakeBudgetLedger())
    registry = bootstrap.handlers(settings, db)
    assert registry.get(TaskType.SUMMARIZE) is plugin
    assert isinstance(registry.get(TaskType.EMBED), EmbeddingService)
    assert isinstance(bootstrap.budget_ledger(settings, db.sessions), FakeBudgetLedger)


@pytest.mark.usefixtures("no_plugins")
def test_the_default_ledger_is_the_postgres_one(settings: Settings, db: bootstrap.Database) -> None:
    assert isinstance(bootstrap.budget_ledger(settings, db.sessions), BudgetService)


def test_search_defaults_to_the_configured_model(settings: Settings) -> None:
    assert bootstrap.search_service(settings).default_model == LOCAL_MODEL


def test_building_every_handler_loads_no_model(tmp_path: Path) -> None:
    """Models load when a job first needs them: a process that never runs a task type
    never imports its library (checked in a fresh interpreter)."""
    script = f"""
import sys
from bookmarkai_ml import bootstrap
from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import TaskType
from bookmarkai_ml.db.engine import make_engine
settings = Settings(database_url={NOWHERE!r}, data_dir={str(tmp_path)!r}, environment="test")
db = bootstrap.Database.on(make_engine(settings.database_url))
registry = bootstrap.handlers(settings, db)
for task in TaskType:
    registry.get(task)
bootstrap.search_service(settings)
heavy = {{"torch", "onnxruntime", "faster_whisper", "ctranslate2", "sentence_transformers"}}
print(sorted(heavy & set(sys.modules)))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"
