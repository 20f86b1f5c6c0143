"""A loopback OpenAI-compatible server for chat and embeddings, on the shared ``OpenAIStub``.

``/v1/chat/completions`` answers a JSON summary of the last user message (its first
words), with ``usage`` counted by whitespace; ``/v1/embeddings`` answers
deterministic hashed bag-of-words vectors. Faults are scripted on ``stub.script``.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import SecretStr

from bookmarkai_ml.config import Settings
from bookmarkai_ml.fakes import FakeEmbedder
from support.openai_stub import OpenAIStub, RecordedRequest, StubResponse

DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072}


def hashed_vector(text: str, dimension: int) -> list[float]:
    """The vector ``fakes.FakeEmbedder`` gives ``text``, as the JSON the API would send."""
    return [float(x) for x in FakeEmbedder(dimension=dimension).embed([text])[0]]


def chat_body(content: str, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


class MLStub(OpenAIStub):
    """``OpenAIStub`` plus ``/v1/chat/completions`` and ``/v1/embeddings``."""

    def payload(self, request: RecordedRequest) -> dict[str, Any]:
        return dict(json.loads(request.fields.get("json", "{}")))

    def chat_requests(self) -> list[dict[str, Any]]:
        return [self.payload(r) for r in self.requests if r.path.endswith("/chat/completions")]

    def answer(self, request: RecordedRequest) -> StubResponse:
        if request.path.endswith("/chat/completions"):
            body = self.payload(request)
            prompt = body["messages"][-1]["content"]
            words = prompt.split()
            summary = " ".join(words[-12:])
            content = json.dumps(
                {"summary": summary, "key_points": [summary[:40]], "tags": ["Stub", "test"]}
            )
            return StubResponse(200, chat_body(content, len(words) + 20, len(content.split())))
        if request.path.endswith("/embeddings"):
            body = self.payload(request)
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            dim = DIMENSIONS.get(body["model"], 64)
            data = [
                {"object": "embedding", "index": i, "embedding": hashed_vector(t, dim)}
                for i, t in enumerate(inputs)
            ]
            used = sum(len(t.split()) for t in inputs)
            usage = {"prompt_tokens": used, "total_tokens": used}
            return StubResponse(
                200, {"object": "list", "data": data, "model": body["model"], "usage": usage}
            )
        return super().answer(request)


def on_stub(settings: Settings, stub: MLStub, **models: Any) -> Settings:
    """``settings`` with the OpenAI-compatible providers pointed at ``stub``, plus ``models``."""
    update = {"openai_base_url": stub.base_url, "openai_api_key": SecretStr("sk-test"), **models}
    return settings.model_copy(update={"models": settings.models.model_copy(update=update)})
