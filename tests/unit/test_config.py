"""One settings object: env prefix, nested groups, refusal of unsafe defaults, docs in sync."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import TaskType
from bookmarkai_ml.errors import ConfigurationError
from bookmarkai_ml.settings_docs import render_configuration_docs

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_seed_defaults() -> None:
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.broker.confirm_timeout_s == 5.0
    assert (s.broker.reconnect_initial_s, s.broker.reconnect_max_s) == (0.5, 32.0)
    assert s.broker.breaker_threshold == 10
    assert s.worker.prefetch_multiplier == 8
    assert s.worker.max_tasks_per_child == 50
    assert s.tasks[TaskType.TRANSCRIBE].per_hour_usd == Decimal(1)
    assert s.tasks[TaskType.TRANSCRIBE].per_day_usd == Decimal(10)
    assert s.storage.s3_bucket == "bookmarkai-media-development"


def test_env_prefix_and_nested_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOOKMARKAI_ML_BROKER_URL", "amqp://u:p@rabbit:5672/")
    monkeypatch.setenv("BOOKMARKAI_ML_BUDGETS__RESERVATION_TTL_S", "60")
    monkeypatch.setenv("BOOKMARKAI_ML_MEDIA__ALLOWED_HOSTS", '["media.internal"]')
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.broker_url == "amqp://u:p@rabbit:5672/"
    assert s.budgets.reservation_ttl_s == 60
    assert s.media.allowed_hosts == ["media.internal"]


def test_env_file_is_read(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("BOOKMARKAI_ML_WORKER__PREFETCH_MULTIPLIER=3\n")
    s = Settings(_env_file=env)  # type: ignore[call-arg]
    assert s.worker.prefetch_multiplier == 3


def test_production_refuses_default_secret() -> None:
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        Settings(environment="production", _env_file=None)  # type: ignore[call-arg]


def test_production_refuses_guest_broker_account() -> None:
    with pytest.raises(ConfigurationError, match="guest"):
        Settings(
            environment="production",
            secret_key="s3cret-for-real",
            broker_url="amqp://guest:guest@rabbit/",
            _env_file=None,  # type: ignore[call-arg]
        )


def test_broker_url_scheme_is_checked() -> None:
    with pytest.raises(ConfigurationError, match="amqp"):
        Settings(broker_url="redis://localhost", _env_file=None)  # type: ignore[call-arg]


def test_configuration_docs_match_the_settings_model() -> None:
    assert DOCS.read_text() == render_configuration_docs(), "run `bookmarkai-ml config-docs`"
