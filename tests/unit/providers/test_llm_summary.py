"""The shared LLM summary recipe on a scripted model: validation, guard, retry, fallback."""

from __future__ import annotations

import json
from collections import deque

from bookmarkai_ml.contracts import SummarizeOptions
from bookmarkai_ml.domain.text import word_count
from bookmarkai_ml.fakes import FakeSummarizer
from bookmarkai_ml.providers.llm_summary import (
    SYSTEM,
    Completion,
    LLMSummaries,
    clean_tags,
    fit,
    word_limit,
)

SOURCE = (
    "The city of Lindholm opened its new tram line on Saturday. It is the first tram in the "
    "city since 1964. The Green Line is 14 kilometres long and has 22 stops. Mayor Ingrid "
    "Saether cut the ribbon in front of a crowd of several thousand people. The project cost "
    "610 million euros, about 80 million more than the budget approved in 2019. The city "
    "blames the price of steel and a year of delays caused by an archaeological find. Trams "
    "will run every six minutes during the day. The city expects 38,000 passengers on an "
    "average weekday by 2027. Shop owners say two years of construction drove customers "
    "away. A second line, to the airport, is being planned."
)
FAITHFUL = (
    "Lindholm opened a 14 kilometre tram line with 22 stops, its first since 1964. It cost "
    "610 million euros, 80 million over budget, and should carry 38,000 riders a weekday."
)


def answer(summary: str, tags: list[str] | None = None, points: list[str] | None = None) -> str:
    return json.dumps(
        {
            "summary": summary,
            "key_points": points or ["The line cost 610 million euros."],
            "tags": tags if tags is not None else ["tram line", "lindholm", "construction"],
        }
    )


class Scripted:
    """A ``Complete`` that answers from a script and records each prompt."""

    def __init__(self, *answers: str) -> None:
        self.answers = deque(answers)
        self.prompts: list[tuple[str, str]] = []

    def __call__(self, system: str, user: str) -> Completion:
        self.prompts.append((system, user))
        return Completion(self.answers.popleft(), 100, 10)


def recipe(model: Scripted, **kwargs: object) -> tuple[LLMSummaries, FakeSummarizer]:
    fallback = FakeSummarizer()
    return LLMSummaries(complete=model, fallback=fallback, **kwargs), fallback  # type: ignore[arg-type]


def test_a_faithful_answer_is_the_llm_summary() -> None:
    model = Scripted(answer(FAITHFUL))
    llm, fallback = recipe(model)
    out = llm.summarize(SOURCE, SummarizeOptions())
    assert out.method == "llm"
    assert out.summary == FAITHFUL
    assert out.tags == ["tram line", "lindholm", "construction"]
    assert out.key_points == ["The line cost 610 million euros."]
    assert (out.input_tokens, out.output_tokens) == (100, 10)
    assert fallback.calls == []
    system, user = model.prompts[0]
    assert system == SYSTEM
    assert f"at most {word_limit(SOURCE, SummarizeOptions())} words" in user
    assert user.endswith(SOURCE)


def test_an_invented_number_is_retried_once_with_the_token_named() -> None:
    wrong = FAITHFUL.replace("38,000", "45,000")
    model = Scripted(answer(wrong), answer(FAITHFUL))
    llm, _ = recipe(model)
    out = llm.summarize(SOURCE, SummarizeOptions())
    assert out.method == "llm"
    assert out.summary == FAITHFUL
    assert len(model.prompts) == 2
    retry = model.prompts[1][1]
    assert '"45,000"' in retry
    assert "only facts the text states" in retry
    assert (out.input_tokens, out.output_tokens) == (200, 20)


def test_two_unfaithful_answers_fall_back_to_extractive() -> None:
    invented_name = FAITHFUL.replace("Lindholm opened", "Lindholm and Oslo opened")
    model = Scripted(answer(invented_name), answer(invented_name))
    llm, fallback = recipe(model)
    out = llm.summarize(SOURCE, SummarizeOptions())
    assert out.method == "llm_fallback"
    assert fallback.calls == [SOURCE]
    assert out.summary == SOURCE.split(". ")[0] + "."
    assert out.input_tokens >= 200, "the model calls are still counted"
    assert '"Oslo"' in model.prompts[1][1]


def test_prose_then_fenced_json_with_a_trailing_comma() -> None:
    body = json.dumps({"summary": FAITHFUL, "tags": ["trams", "budget", "steel"]})
    fenced = "```json\n" + body[:-1] + ",}\n```"
    model = Scripted("Sure! Lindholm has trams now.", fenced)
    llm, _ = recipe(model)
    out = llm.summarize(SOURCE, SummarizeOptions())
    assert out.method == "llm"
    assert out.summary == FAITHFUL
    assert out.tags == ["trams", "budget", "steel"]
    assert "not the JSON object" in model.prompts[1][1]


def test_a_long_summary_is_cut_to_whole_sentences_within_a_third_of_the_source() -> None:
    long = FAITHFUL + " " + " ".join(SOURCE.split(". ")[4:8]) + "."
    model = Scripted(answer(long))
    llm, _ = recipe(model)
    out = llm.summarize(SOURCE, SummarizeOptions(target_words=500))
    assert out.method == "llm"
    assert word_count(out.summary) <= word_count(SOURCE) / 3
    assert out.summary.startswith(FAITHFUL)
    assert out.summary.endswith(".")


def test_a_first_sentence_over_the_limit_is_rejected_as_too_long() -> None:
    model = Scripted(answer(SOURCE.replace(". ", ", ")), answer(FAITHFUL))
    llm, _ = recipe(model)
    out = llm.summarize(SOURCE, SummarizeOptions())
    assert out.summary == FAITHFUL
    assert "too long" in model.prompts[1][1]


def test_two_sentences_or_fewer_skip_the_model() -> None:
    model = Scripted()
    llm, fallback = recipe(model)
    short = "Lindholm opened a tram line. It has 22 stops."
    out = llm.summarize(short, SummarizeOptions())
    assert model.prompts == []
    assert (out.method, out.too_short) == ("extractive", True)
    assert fallback.calls == [short]


def test_bad_tags_are_cleaned_and_too_few_come_from_the_tagger() -> None:
    assert clean_tags(
        ["Tram Line", "#Lindholm", "trams", "tram", "smart city", "a b c d e", "Budget!"], SOURCE
    ) == ["tram line", "lindholm", "budget"]
    assert clean_tags(["the tram", "tram line was", "subscribe"], SOURCE + " Subscribe.") == []
    tagged: list[str] = []

    def tagger(text: str) -> list[str]:
        tagged.append(text)
        return ["tram line", "budget", "steel"]

    model = Scripted(answer(FAITHFUL, tags=["Urban Renewal", "tram"]))
    llm, _ = recipe(model, tagger=tagger)
    out = llm.summarize(SOURCE, SummarizeOptions())
    assert out.tags == ["tram line", "budget", "steel"]
    assert tagged == [SOURCE]


def test_unfaithful_key_points_are_dropped_and_the_rest_capped() -> None:
    points = ["Trams run every 4 minutes.", *[f"Point about the tram {n}." for n in "abcdefg"]]
    model = Scripted(answer(FAITHFUL, points=points))
    llm, _ = recipe(model)
    out = llm.summarize(SOURCE, SummarizeOptions())
    assert "Trams run every 4 minutes." not in out.key_points
    assert len(out.key_points) == 5


def test_long_input_is_map_reduced_and_guarded_against_the_whole_text() -> None:
    text = "\n\n".join([SOURCE] * 6)
    partial = answer("Lindholm opened a tram line.")
    parts = LLMSummaries(complete=Scripted(), fallback=FakeSummarizer(), window_tokens=300)
    n = len(parts.windows(text))
    assert n >= 3
    model = Scripted(*[partial] * n, answer(FAITHFUL))
    llm, _ = recipe(model, window_tokens=300)
    out = llm.summarize(text, SummarizeOptions())
    assert out.method == "llm"
    assert len(model.prompts) == n + 1
    merge = model.prompts[-1][1]
    assert merge.startswith("These are summaries of consecutive parts")
    assert merge.count("Part ") >= n
    assert f"part 1 of {n}" in model.prompts[0][1]


def test_limits_and_fit() -> None:
    assert word_limit(SOURCE, SummarizeOptions(target_words=20)) == 20
    assert word_limit(SOURCE, SummarizeOptions(target_words=500)) == word_count(SOURCE) // 3
    bullets = "- One two three.\n- Four five six.\n- Seven eight nine."
    assert fit(bullets, 7) == "- One two three.\n- Four five six."
    assert fit("Short one.", 5) == "Short one."
    assert fit("This sentence has far too many words for it.", 3) == ""
