"""Robust parsing of chat-model summaries (pure)."""

from __future__ import annotations

from bookmarkai_ml.providers.llm_summary import parse_summary


def test_clean_json() -> None:
    summary, points, tags, ok = parse_summary(
        '{"summary": "A short one.", "key_points": ["x", "y"], "tags": ["ai", "search"]}'
    )
    assert (summary, points, tags, ok) == ("A short one.", ["x", "y"], ["ai", "search"], True)


def test_fenced_json_with_prose_and_a_trailing_comma() -> None:
    answer = 'Sure! Here it is:\n```json\n{"summary": "Fenced.", "tags": "a, b",}\n```\nBye.'
    summary, points, tags, ok = parse_summary(answer)
    assert (summary, points, tags, ok) == ("Fenced.", [], ["a", "b"], True)


def test_broken_json_falls_back_to_the_text() -> None:
    summary, points, tags, ok = parse_summary(
        '{"summary": "The model forgot to close\n- point one\n- point two'
    )
    assert not ok
    assert summary.startswith("The model forgot to close")
    assert points == ["point one", "point two"]
    assert tags == []


def test_summary_given_as_a_list_becomes_bullets() -> None:
    summary, _, _, ok = parse_summary('{"summary": ["one", "two"]}')
    assert ok
    assert summary == "- one\n- two"


def test_an_answer_cut_off_after_the_summary_keeps_the_summary() -> None:
    summary, points, tags, ok = parse_summary(
        '{"summary": "A \\"quoted\\" one.", "key_points": ["a", "b'
    )
    assert (summary, points, tags, ok) == ('A "quoted" one.', [], [], True)
