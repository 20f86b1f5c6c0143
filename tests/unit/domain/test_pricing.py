"""The price table: list prices, local models free, unknown models priced high, rounding up."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bookmarkai_ml.config import BudgetSettings
from bookmarkai_ml.domain.pricing import (
    DEFAULT_TABLE,
    ModelPrice,
    PriceTable,
    audio_cost,
    price_table,
    token_cost,
)


def test_whisper_costs_the_seed_price_per_minute() -> None:
    assert audio_cost("openai", "whisper-1", 60) == Decimal("0.006")
    assert audio_cost("openai", "whisper-1", 3600) == Decimal("0.36")
    assert audio_cost("openai", "whisper-1", 30) == Decimal("0.003")


def test_local_models_are_free() -> None:
    assert audio_cost("local", "tiny.en", 1800) == 0
    assert token_cost("local", "all-MiniLM-L6-v2", 10_000) == 0
    assert token_cost("extractive", "x", 10, 10) == 0
    assert token_cost("llamacpp", "smollm2", 10, 10) == 0


def test_embedding_prices_per_million_tokens() -> None:
    assert token_cost("openai", "text-embedding-3-small", 1_000_000) == Decimal("0.02")
    assert token_cost("openai", "text-embedding-3-large", 1_000_000) == Decimal("0.13")
    # The original design measured "$0.000001 for 42 tokens" (0.00000084, rounded up to 1e-8).
    assert token_cost("openai", "text-embedding-3-small", 42) == Decimal("0.00000084")


def test_chat_prices_input_and_output_separately() -> None:
    assert token_cost("openai", "gpt-4o-mini", 1_000_000, 0) == Decimal("0.15")
    assert token_cost("openai", "gpt-4o-mini", 0, 1_000_000) == Decimal("0.60")
    assert token_cost("openai", "gpt-4o", 1000, 500) == Decimal("0.0075")


def test_unknown_api_model_uses_the_configurable_default() -> None:
    table = PriceTable(
        unknown=ModelPrice(per_million_input=Decimal(1), per_million_output=Decimal(2))
    )
    assert table.token_cost("openai", "llama3:8b", 1_000_000, 1_000_000) == Decimal(3)
    assert token_cost("openai", "mystery", 1_000_000) == Decimal("2.50")


def test_costs_round_up_to_the_ledger_precision() -> None:
    assert token_cost("openai", "text-embedding-3-small", 1) == Decimal("0.00000002")
    assert audio_cost("openai", "whisper-1", 0.001) == Decimal("0.00000010")


def test_settings_override_the_seed_numbers() -> None:
    budgets = BudgetSettings(
        whisper_usd_per_minute=Decimal("0.01"), unknown_model_input_usd_per_1m=Decimal(5)
    )
    table = price_table(budgets)
    assert table.audio_cost("openai", "whisper-1", 60) == Decimal("0.01")
    assert table.token_cost("openai", "unknown", 1_000_000) == Decimal(5)
    assert DEFAULT_TABLE.audio_cost("openai", "whisper-1", 60) == Decimal("0.006")


def test_negative_quantities_are_refused() -> None:
    with pytest.raises(ValueError, match="seconds"):
        audio_cost("openai", "whisper-1", -1)
    with pytest.raises(ValueError, match="token"):
        token_cost("openai", "gpt-4o", -1)
