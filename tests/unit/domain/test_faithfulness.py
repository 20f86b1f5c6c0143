from __future__ import annotations

from bookmarkai_ml.domain.faithfulness import names, numbers, unsupported

SOURCE = (
    "Build times at Acme fell from 25 to 8 minutes after the team moved CI to Kubernetes. "
    "The migration cost 1,500 dollars and took three weeks. Maria Lopez led it."
)


def test_a_faithful_paraphrase_passes() -> None:
    summary = "Acme cut build times from 25 to 8 minutes by moving CI to Kubernetes, in 3 weeks."
    assert unsupported(summary, SOURCE) == []


def test_a_changed_number_is_caught() -> None:
    assert unsupported("Acme cut build times by 17 minutes.", SOURCE) == ["17"]


def test_an_invented_name_is_caught_and_a_sentence_start_is_not_a_name() -> None:
    summary = "Moving to Kubernetes helped. The work was led by Maria Lopez and Google."
    assert unsupported(summary, SOURCE) == ["Google"]


def test_numbers_match_by_value() -> None:
    assert numbers("It cost 1,500 dollars, 2.50 each, for twelve people.") == {"1500", "2.5", "12"}
    assert unsupported("The migration cost 1500 dollars.", SOURCE) == []


def test_names_are_mid_sentence_capitalised_words_once_each() -> None:
    assert names("Yesterday Maria met Bob. Then Bob left; I stayed.") == ["Maria", "Bob"]


def test_halves_and_unit_abbreviations_are_faithful_conversions() -> None:
    source = (
        "Most adults need seven and a half hours; the phone has 8 gigabytes and sleeps at 10 pm."
    )
    assert (
        unsupported("Adults need 7.5 hours; the phone has 8 GB and sleeps at 10 PM.", source) == []
    )
    assert unsupported("Adults need 6.5 hours.", source) == ["6.5"]
