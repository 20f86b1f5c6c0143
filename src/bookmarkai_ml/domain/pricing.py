"""The price table: what one call to a provider/model costs, in USD.

Pure and I/O-free, so budgets, services and the API share one source of prices
(docs/operations.md, "Budgets and costs").
Amounts are ``Decimal`` rounded *up* to 1e-8 USD (the ledger's ``numeric(14, 8)``),
so an estimate never undercharges a budget.

Local providers (``local``, ``onnx``, ``extractive``, ``local_llm``; ``llamacpp`` for
rows from the previous release) cost $0.
A chat model missing from the table is priced at a configurable default that errs
high (gpt-4o's price), because an OpenAI-compatible endpoint may serve anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_CEILING, Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bookmarkai_ml.config import BudgetSettings

#: Providers that run on our own CPU: no per-call price.
LOCAL_PROVIDERS: frozenset[str] = frozenset(
    {"local", "onnx", "extractive", "local_llm", "llamacpp"}
)

_MILLION = Decimal(1_000_000)
_QUANTUM = Decimal("0.00000001")


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """Unit prices of one model: per audio minute, and per million input/output tokens."""

    per_audio_minute: Decimal = Decimal(0)
    per_million_input: Decimal = Decimal(0)
    per_million_output: Decimal = Decimal(0)


FREE = ModelPrice()

#: Public list prices; (provider, model) -> price. Whisper's $0.006/min is a design default.
DEFAULT_PRICES: Mapping[tuple[str, str], ModelPrice] = MappingProxyType(
    {
        ("openai", "whisper-1"): ModelPrice(per_audio_minute=Decimal("0.006")),
        ("openai", "text-embedding-3-small"): ModelPrice(per_million_input=Decimal("0.02")),
        ("openai", "text-embedding-3-large"): ModelPrice(per_million_input=Decimal("0.13")),
        ("openai", "text-embedding-ada-002"): ModelPrice(per_million_input=Decimal("0.10")),
        ("openai", "gpt-4o-mini"): ModelPrice(
            per_million_input=Decimal("0.15"), per_million_output=Decimal("0.60")
        ),
        ("openai", "gpt-4o"): ModelPrice(
            per_million_input=Decimal("2.50"), per_million_output=Decimal("10.00")
        ),
    }
)

#: Price of a chat model that the table does not know (gpt-4o's: errs high).
DEFAULT_UNKNOWN = ModelPrice(
    per_audio_minute=Decimal("0.006"),
    per_million_input=Decimal("2.50"),
    per_million_output=Decimal("10.00"),
)


def _round_up(usd: Decimal) -> Decimal:
    return usd.quantize(_QUANTUM, rounding=ROUND_CEILING)


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Prices per (provider, model), with a default for unknown API models."""

    prices: Mapping[tuple[str, str], ModelPrice] = field(default_factory=lambda: DEFAULT_PRICES)
    unknown: ModelPrice = DEFAULT_UNKNOWN

    def price(self, provider: str, model: str) -> ModelPrice:
        """The unit prices of ``model``; $0 for local providers."""
        if provider in LOCAL_PROVIDERS:
            return FREE
        return self.prices.get((provider, model), self.unknown)

    def audio_cost(self, provider: str, model: str, seconds: float) -> Decimal:
        """Cost of transcribing ``seconds`` of audio (billed per second, as OpenAI does)."""
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        per_minute = self.price(provider, model).per_audio_minute
        return _round_up(per_minute * Decimal(str(seconds)) / Decimal(60))

    def token_cost(
        self, provider: str, model: str, input_tokens: int, output_tokens: int = 0
    ) -> Decimal:
        """Cost of a call that read ``input_tokens`` and wrote ``output_tokens``."""
        if input_tokens < 0 or output_tokens < 0:
            raise ValueError("token counts must be >= 0")
        p = self.price(provider, model)
        usd = (p.per_million_input * input_tokens + p.per_million_output * output_tokens) / _MILLION
        return _round_up(usd)

    def with_overrides(
        self,
        *,
        whisper_per_minute: Decimal | None = None,
        unknown: ModelPrice | None = None,
    ) -> PriceTable:
        """A copy with the configurable numbers replaced (settings -> table)."""
        prices = dict(self.prices)
        if whisper_per_minute is not None:
            prices[("openai", "whisper-1")] = ModelPrice(per_audio_minute=whisper_per_minute)
        return replace(
            self,
            prices=MappingProxyType(prices),
            unknown=self.unknown if unknown is None else unknown,
        )


DEFAULT_TABLE = PriceTable()


def price_table(budgets: BudgetSettings) -> PriceTable:
    """The price table with the configurable prices taken from ``settings.budgets``."""
    return DEFAULT_TABLE.with_overrides(
        whisper_per_minute=budgets.whisper_usd_per_minute,
        unknown=ModelPrice(
            per_audio_minute=budgets.whisper_usd_per_minute,
            per_million_input=budgets.unknown_model_input_usd_per_1m,
            per_million_output=budgets.unknown_model_output_usd_per_1m,
        ),
    )


def audio_cost(
    provider: str, model: str, seconds: float, *, table: PriceTable = DEFAULT_TABLE
) -> Decimal:
    """Cost of ``seconds`` of audio with ``provider``/``model`` (see ``PriceTable``)."""
    return table.audio_cost(provider, model, seconds)


def token_cost(
    provider: str,
    model: str,
    input_tokens: int,
    output_tokens: int = 0,
    *,
    table: PriceTable = DEFAULT_TABLE,
) -> Decimal:
    """Cost of a token-priced call with ``provider``/``model`` (see ``PriceTable``)."""
    return table.token_cost(provider, model, input_tokens, output_tokens)
