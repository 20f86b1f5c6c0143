"""The embed job handler: chunk by content kind, embed in batches, replace the share's vectors.

The model is chosen per task by the ``embedder_for`` the composition root hands in
(``bootstrap``: settings, content length, an explicit ``options.model``). A priced
model reserves its cost before embedding. The vectors go back in the outcome
(``TaskOutcome.vectors``): the job's finish swaps the share's stored vectors for them in
the transaction that marks the job done (``db.embeddings.store``), so search sees the old
set or the new one, and a job cancelled or erased before its finish writes nothing.
:meth:`EmbeddingService.embed_now` stores at once, for callers outside a job runtime.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bookmarkai_ml.contracts import EmbedResult, EmbedTask
from bookmarkai_ml.db import embeddings as repo
from bookmarkai_ml.db.engine import SessionFactory, transaction
from bookmarkai_ml.domain.chunking import Chunk, ChunkPolicy, plan_chunks
from bookmarkai_ml.domain.pricing import PriceTable
from bookmarkai_ml.errors import InvalidInputError
from bookmarkai_ml.ports import CostLine, Embedder, JobContext, TaskOutcome, VectorSet

_DEFAULT_POLICY = ChunkPolicy()

#: (requested model or None, content length in characters) -> embedder.
EmbedderFor = Callable[[str | None, int], Embedder]


class EmbeddingService:
    """Job handler for ``EmbedTask`` messages."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        embedder_for: EmbedderFor,
        prices: PriceTable,
        policy: ChunkPolicy = _DEFAULT_POLICY,
        batch_size: int = 64,
    ) -> None:
        self._sessions = sessions
        self._embedder_for = embedder_for
        self._prices = prices
        self._policy = policy
        self._batch_size = batch_size

    def chunks(self, message: EmbedTask, embedder: Embedder) -> list[Chunk]:
        """The chunks of the message, sized for ``embedder``'s input limit."""
        limit = int(getattr(embedder, "max_tokens", self._policy.max_tokens))
        policy = self._policy
        if policy.max_tokens > limit:
            policy = ChunkPolicy(limit, min(policy.overlap_tokens, limit // 4))
        return plan_chunks(
            content=message.content,
            segments=message.segments,
            kind="transcript" if message.segments else message.options.content_kind,
            count=embedder.count_tokens,
            policy=policy,
        )

    def __call__(self, message: EmbedTask, ctx: JobContext) -> TaskOutcome:
        """Embed the message's content or transcript segments; the finish stores them.

        Raises:
            InvalidInputError: nothing to embed (blank content, no segments).
            BudgetExceededError: the reservation would overshoot a budget window.
            ProviderRejectedError | ProviderUnavailableError: from an API provider.
        """
        size = len(message.content) + sum(len(s.text) for s in message.segments or [])
        embedder = self._embedder_for(message.options.model, size)
        chunks = self.chunks(message, embedder)
        if not chunks:
            raise InvalidInputError("nothing to embed: blank content and no segments")
        tokens = sum(c.tokens for c in chunks)
        usd = self._prices.token_cost(embedder.provider, embedder.model, tokens)
        if usd > 0:
            ctx.reserve(usd)
        parts = []
        for start in range(0, len(chunks), self._batch_size):
            parts.append(embedder.embed([c.text for c in chunks[start : start + self._batch_size]]))
            ctx.heartbeat()
        vectors = np.concatenate(parts)
        kind = "transcript" if message.segments else message.options.content_kind
        stored = VectorSet(
            tenant_id=message.tenant_id,
            share_id=message.share_id,
            model=embedder.model,
            vectors=vectors,
            chunks=chunks,
            content_kind=kind,
            source_kind=message.options.source_kind,
        )
        result = EmbedResult(
            model=embedder.model,
            dimension=int(vectors.shape[1]),
            chunks=len(chunks),
            tokens=tokens,
            provider=embedder.provider,
        )
        cost = CostLine(
            provider=embedder.provider, model=embedder.model, usd=usd, input_tokens=tokens
        )
        return TaskOutcome(result=result, cost=cost, vectors=stored)

    def embed_now(self, message: EmbedTask, ctx: JobContext) -> TaskOutcome:
        """Embed and store at once, in a transaction of its own: for callers outside a
        job runtime (tests, bench, scripts), where no finish writes the vectors."""
        outcome = self(message, ctx)
        if outcome.vectors is not None:
            with transaction(self._sessions) as session:
                repo.store(session, outcome.vectors, job_id=message.job_id)
        return outcome
