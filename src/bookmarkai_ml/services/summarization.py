"""The summarize job handler: ``summarize_content(share_id, content, options)``.

The task's wire form is in docs/messages.md. The handler picks the summarizer through
``summarizer_for`` (the task's ``options.provider``, else the configured one;
``bootstrap`` builds it), reserves the estimated cost against the summarize budget
before a priced provider runs, and hands the result and the actual cost (priced from
the reported token usage) to the job runtime, which writes both rows in the finishing
transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from bookmarkai_ml.contracts import SummarizeTask, SummaryResult
from bookmarkai_ml.domain.pricing import PriceTable
from bookmarkai_ml.errors import InvalidInputError
from bookmarkai_ml.ports import CostLine, JobContext, Summarizer, TaskOutcome

SummarizerFor = Callable[[str | None], Summarizer]


class SummarizationService:
    """Job handler for ``SummarizeTask`` messages."""

    def __init__(self, *, summarizer_for: SummarizerFor, prices: PriceTable) -> None:
        self._summarizer_for = summarizer_for
        self._prices = prices

    def __call__(self, message: SummarizeTask, ctx: JobContext) -> TaskOutcome:
        """Summarize ``message.content``.

        Raises:
            InvalidInputError: the content is blank.
            BudgetExceededError: the reservation would overshoot a budget window.
            ProviderRejectedError | ProviderUnavailableError: from an API provider.
        """
        content = message.content.strip()
        if not content:
            raise InvalidInputError("nothing to summarize: the content is blank")
        summarizer = self._summarizer_for(message.options.provider)
        estimate = summarizer.estimate_cost_usd(content, message.options)
        if estimate > 0:
            ctx.reserve(estimate)
        summary = summarizer.summarize(content, message.options)
        usd = self._prices.token_cost(
            summarizer.provider, summarizer.model, summary.input_tokens, summary.output_tokens
        )
        result = SummaryResult(
            summary=summary.summary,
            key_points=summary.key_points,
            tags=summary.tags,
            method=summary.method,
            too_short=summary.too_short,
            model=summarizer.model,
            provider=summarizer.provider,
            input_tokens=summary.input_tokens,
            output_tokens=summary.output_tokens,
        )
        cost = CostLine(
            provider=summarizer.provider,
            model=summarizer.model,
            usd=Decimal(usd),
            input_tokens=summary.input_tokens,
            output_tokens=summary.output_tokens,
        )
        return TaskOutcome(result=result, cost=cost)
