"""Summaries: the extractive default on the real model, and the chat summarizer over HTTP.

The chat path runs the shared LLM recipe (providers/llm_summary.py) against the stub:
scripted unfaithful answers show the guard's retry and the extractive fallback.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import SummarizeOptions, SummarizeTask, TaskType
from bookmarkai_ml.db.engine import SessionFactory, transaction
from bookmarkai_ml.domain.pricing import token_cost
from bookmarkai_ml.domain.text import split_sentences, word_count
from bookmarkai_ml.providers.embed_onnx import OnnxEmbedder
from bookmarkai_ml.providers.openai_http import OpenAIHTTP, RetryPolicy
from bookmarkai_ml.providers.pos import SpacyPosTagger
from bookmarkai_ml.providers.summarize_extractive import ExtractiveSummarizer
from bookmarkai_ml.providers.summarize_openai import OpenAIChatSummarizer
from bookmarkai_ml.providers.tagger import Tagger
from bookmarkai_ml.services import jobs
from support.ml import MLStub, chat_body, on_stub
from support.openai_stub import StubResponse
from support.runtime import worker_runtime

pytestmark = pytest.mark.integration

DATA = Path(__file__).parents[2] / "data"
ARTICLE = (DATA / "article_1500.txt").read_text()
FACTS = json.loads((DATA / "article_1500_facts.json").read_text())["facts"]


@pytest.fixture(scope="module")
def extractive(onnx_embedder: OnnxEmbedder) -> ExtractiveSummarizer:
    return ExtractiveSummarizer(onnx_embedder, tagger=Tagger(onnx_embedder, SpacyPosTagger()))


def test_article_summary_is_short_ordered_unique_and_keeps_the_lead_facts(
    extractive: ExtractiveSummarizer,
) -> None:
    assert 1400 <= word_count(ARTICLE) <= 1600
    out = extractive.summarize(ARTICLE, SummarizeOptions(target_words=120))
    picked = split_sentences(out.summary)
    assert word_count(out.summary) <= 120
    assert len(picked) == len(set(picked)), "no duplicates"
    positions = [ARTICLE.index(s) for s in picked]
    assert positions == sorted(positions), "original order"
    kept = [f["fact"] for f in FACTS if any(a.lower() in out.summary.lower() for a in f["any"])]
    assert len(kept) >= len(FACTS) - 1, kept
    assert picked[0] == split_sentences(ARTICLE)[1], "the lead sentence comes first"
    assert {"turbines", "tidal power"} & set(out.tags)
    assert 1 <= len(out.key_points) <= 5


def test_styles_short_input_and_very_long_input(extractive: ExtractiveSummarizer) -> None:
    short = extractive.summarize("Just one line about a cat. And a second one.", SummarizeOptions())
    assert (short.summary, short.too_short) == ("Just one line about a cat.", True)
    bullets = extractive.summarize(ARTICLE, SummarizeOptions(style="bullets", target_words=60))
    lines = bullets.summary.splitlines()
    assert lines
    assert all(line.startswith("- ") for line in lines)
    detailed = extractive.summarize(ARTICLE, SummarizeOptions(style="detailed", target_words=100))
    assert 100 < word_count(detailed.summary) <= 200
    huge = "\n\n".join([ARTICLE] * 10)  # 15,000 words: subsampled to a bounded size
    out = extractive.summarize(huge, SummarizeOptions(target_words=80))
    assert 0 < word_count(out.summary) <= 80


def client(stub: MLStub, slept: list[float]) -> OpenAIHTTP:
    return OpenAIHTTP(
        base_url=stub.base_url, api_key="sk-test", retry=RetryPolicy(), sleep=slept.append
    )


def chat_summarizer(
    http: OpenAIHTTP, extractive: ExtractiveSummarizer, **kwargs: Any
) -> OpenAIChatSummarizer:
    return OpenAIChatSummarizer(
        http=http,
        model="gpt-4o-mini",
        fallback=extractive,
        tagger=extractive.tagger.tags,
        **kwargs,
    )


#: Three sentences with a number and a name the guard can check.
POST = (
    "The Baltic Tidal Array now supplies 400,000 homes in Estonia. Its turbines sit in the "
    "strait between Saaremaa and Muhu. It cost 1.9 billion euros."
)


def chat_json(summary: str) -> dict[str, Any]:
    content = json.dumps({"summary": summary, "key_points": [], "tags": ["tidal power"]})
    return chat_body(content, 50, 12)


def test_chat_map_reduce_on_long_input(stub: MLStub, extractive: ExtractiveSummarizer) -> None:
    with client(stub, []) as http:
        summarizer = chat_summarizer(http, extractive, chunk_tokens=400)
        out = summarizer.summarize(ARTICLE, SummarizeOptions(target_words=80))
    calls = stub.chat_requests()
    assert len(calls) >= 5, "several map calls and one reduce call"
    reduce_prompt = calls[-1]["messages"][-1]["content"]
    assert "Part 1:" in reduce_prompt
    assert reduce_prompt.count("Part ") >= len(calls) - 1
    assert out.summary
    assert out.method == "llm"
    assert "stub" not in out.tags, "the stub's tags are not in the text: the tagger's instead"
    assert 3 <= len(out.tags) <= 8
    reported_in = sum(len(c["messages"][-1]["content"].split()) + 20 for c in calls)
    assert out.input_tokens == reported_in
    estimate = summarizer.estimate_cost_usd(ARTICLE, SummarizeOptions(target_words=80))
    assert estimate >= token_cost("openai", "gpt-4o-mini", out.input_tokens, out.output_tokens)


def test_chat_honours_retry_after_and_retries_malformed_json(
    stub: MLStub, extractive: ExtractiveSummarizer
) -> None:
    slept: list[float] = []
    stub.script.append(StubResponse(429, {"error": {"message": "slow down"}}, {"Retry-After": "2"}))
    broken = 'Sure! {"summary": "Tidal power reaches Estonia", "key_points": ['
    stub.script.append(StubResponse(200, chat_body(broken, 50, 12)))
    with client(stub, slept) as http:
        out = chat_summarizer(http, extractive).summarize(POST, SummarizeOptions())
    assert slept == [2.0]
    calls = stub.chat_requests()
    assert len(calls) == 3, "the 429, the broken answer, and the stricter retry"
    assert "not the JSON object" in calls[-1]["messages"][-1]["content"]
    assert out.method == "llm"
    assert out.input_tokens == 50 + len(calls[-1]["messages"][-1]["content"].split()) + 20


def test_chat_unfaithful_then_faithful_answer_is_an_llm_summary(
    stub: MLStub, extractive: ExtractiveSummarizer
) -> None:
    stub.script.append(StubResponse(200, chat_json("A tidal array powers 500,000 homes.")))
    stub.script.append(StubResponse(200, chat_json("A tidal array powers 400,000 homes.")))
    with client(stub, []) as http:
        out = chat_summarizer(http, extractive).summarize(POST, SummarizeOptions())
    calls = stub.chat_requests()
    assert len(calls) == 2
    assert '"500,000"' in calls[1]["messages"][-1]["content"]
    assert calls[1]["messages"][0] == calls[0]["messages"][0], "the same system prompt"
    assert (out.method, out.summary) == ("llm", "A tidal array powers 400,000 homes.")
    assert (out.input_tokens, out.output_tokens) == (100, 24)


def test_chat_two_unfaithful_answers_fall_back_to_extractive(
    stub: MLStub, extractive: ExtractiveSummarizer
) -> None:
    stub.script.append(StubResponse(200, chat_json("The array by Siemens serves 400,000 homes.")))
    stub.script.append(StubResponse(200, chat_json("An array by Siemens powers 400,000 homes.")))
    with client(stub, []) as http:
        out = chat_summarizer(http, extractive).summarize(POST, SummarizeOptions())
    assert len(stub.chat_requests()) == 2
    assert out.method == "llm_fallback"
    assert "Siemens" not in out.summary
    assert out.summary == extractive.summarize(POST, SummarizeOptions()).summary
    assert (out.input_tokens, out.output_tokens) == (100, 24), "the failed calls were paid for"


def test_chat_summary_job_writes_cost_rows_from_reported_usage(
    clean_db: Engine, sessions: SessionFactory, ml_settings: Settings, stub: MLStub
) -> None:
    settings = on_stub(ml_settings, stub, summarizer="openai")
    runtime = worker_runtime(settings, clean_db)
    message = SummarizeTask(share_id=uuid.uuid4().hex, content=ARTICLE)
    with transaction(sessions) as session:
        job_id = jobs.submit(session, message).job.id
    runtime.run(
        TaskType.SUMMARIZE, message.model_copy(update={"job_id": job_id}).model_dump(mode="json")
    )
    with clean_db.connect() as conn:
        status = conn.execute(
            text("SELECT status, error_code FROM ml_jobs WHERE id = :id"), {"id": job_id}
        ).one()
        assert status.status == "done", status.error_code
        cost = conn.execute(text("SELECT * FROM ml_costs WHERE job_id = :id"), {"id": job_id}).one()
        result: dict[str, Any] = conn.execute(
            text("SELECT result FROM ml_results WHERE job_id = :id"), {"id": job_id}
        ).scalar_one()
    calls = stub.chat_requests()
    assert cost.input_tokens == sum(len(c["messages"][-1]["content"].split()) + 20 for c in calls)
    assert cost.input_tokens == result["input_tokens"]
    assert cost.output_tokens == result["output_tokens"]
    expected = token_cost("openai", "gpt-4o-mini", cost.input_tokens, cost.output_tokens)
    assert Decimal(cost.usd) == expected
    assert (cost.provider, cost.model) == ("openai", "gpt-4o-mini")
