"""Spoken run-ons cut into clauses that read as sentences (pure)."""

from __future__ import annotations

from bookmarkai_ml.domain.text import split_clauses, word_count

RUN_ON = (
    "okay quick update on the outage from Tuesday night so what happened was one of the three "
    "RabbitMQ nodes ran out of disk space around 2 in the morning and for about 40 minutes nobody "
    "noticed because the alert was going to an old Slack channel that nobody reads anymore and "
    "I was getting like five and a half hours on a good night which is the second thing to fix"
)


def test_a_run_on_becomes_clauses_of_bounded_length() -> None:
    parts = split_clauses(RUN_ON)
    assert len(parts) >= 4
    assert all(8 <= word_count(p) <= 30 for p in parts), parts
    assert all(p[0].isupper() and p.endswith(".") for p in parts)
    assert parts[0] == "Quick update on the outage from Tuesday night.", "fillers dropped"
    assert not any(p.lower().startswith(("and ", "so ")) for p in parts), "joiners dropped"


def test_cuts_avoid_numbers_and_articles() -> None:
    joined = " ".join(split_clauses(RUN_ON))
    assert "five and a half hours" in joined
    assert "the second thing" in joined


def test_text_without_cuts_comes_back_whole() -> None:
    assert split_clauses("A short sentence.") == ["A short sentence."]
