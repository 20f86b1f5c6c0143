"""Tag candidates and rules (pure): noun phrases only, no fragments, grounded, no boilerplate."""

from __future__ import annotations

from bookmarkai_ml.domain.keyphrases import (
    Token,
    grounded,
    is_boilerplate,
    is_boilerplate_sentence,
    is_fragment,
    normalise,
    noun_phrases,
    phrase_key,
    verbs_in,
)


def tagged(*pairs: str) -> list[Token]:
    """Tokens from "word/POS" strings."""
    return [Token(*p.rsplit("/", 1)) for p in pairs]


#: "quantum cues keep every message safe when a broker knows fails. The street became quiet."
OLD_DEMO = [
    tagged(
        "Quantum/ADJ", "cues/NOUN", "keep/VERB", "every/DET", "message/NOUN", "safe/ADJ",
        "when/SCONJ", "a/DET", "broker/NOUN", "knows/VERB", "fails/VERB", "./PUNCT",
    ),
    tagged("The/DET", "street/NOUN", "became/VERB", "quiet/ADJ", "./PUNCT"),
]  # fmt: skip


def test_candidates_are_noun_phrases_never_spanning_a_verb() -> None:
    phrases = [c.phrase for c in noun_phrases(OLD_DEMO)]
    assert "quantum cues" in phrases
    assert {"message", "broker", "street", "cues"} <= set(phrases)
    for bad in ("quantum cues keep", "broker knows fails", "street became", "safe", "quiet"):
        assert bad not in phrases
    verbs = verbs_in(OLD_DEMO)
    assert {"keep", "knows", "fails", "became"} <= verbs
    assert not any(is_fragment(p, verbs) for p in phrases)


def test_the_old_demo_fragments_are_fragments_even_without_a_tagger() -> None:
    for bad in ("quantum cues keep", "broker knows fails", "street became", "of the sea", "the"):
        assert is_fragment(bad), bad
    for good in ("quorum queues", "broker node", "tidal power plant"):
        assert not is_fragment(good), good
    assert is_fragment("lot"), "one vague noun is no tag"


def test_spellings_of_one_phrase_group_under_one_key_and_its_commonest_form() -> None:
    sentences = [
        tagged("Quorum/PROPN", "queues/NOUN", "replicate/VERB", "./PUNCT"),
        tagged("A/DET", "quorum/NOUN", "queue/NOUN", "confirms/VERB", "./PUNCT"),
        tagged("Quorum/PROPN", "queues/NOUN", "win/VERB", "./PUNCT"),
    ]
    groups = {c.key: c for c in noun_phrases(sentences)}
    assert groups["quorum queue"].count == 3
    assert groups["quorum queue"].phrase == "quorum queues"
    assert phrase_key("Batteries") == phrase_key("battery")


def test_long_runs_give_windows_of_at_most_three_words() -> None:
    run = tagged("new/ADJ", "city/NOUN", "bike/NOUN", "lane/NOUN", "network/NOUN", "./PUNCT")
    phrases = {c.phrase for c in noun_phrases([run])}
    assert "bike lane network" in phrases
    assert all(len(p.split()) <= 3 for p in phrases)
    assert "new city bike" not in phrases, "a phrase ends in a noun"


def test_normalised_and_grounded_modulo_case_spacing_and_plural() -> None:
    assert normalise("  \u201cQuorum   Queues\u201d, ") == "quorum queues"
    assert normalise("Copenhagen\u2019s") == "copenhagen"
    text = "Every message goes to a Quorum Queue; brokers fail."
    assert grounded("quorum queues", text)
    assert grounded("broker", text)
    assert not grounded("quantum cues", text)
    assert not grounded("message queue", text), "words present but not together"


def test_boilerplate_tags_and_sentences() -> None:
    for tag in ("subscribe", "cookie settings", "click here", "newsletter", "sign up today"):
        assert is_boilerplate(tag), tag
    assert not is_boilerplate("quorum queues")
    candidates = noun_phrases([tagged("Newsletter/NOUN", "signup/NOUN", "./PUNCT")])
    assert candidates == []
    assert is_boilerplate_sentence("Thanks for listening, and see you next week.")
    assert is_boilerplate_sentence("Don\u2019t forget to like and subscribe!")
    assert not is_boilerplate_sentence("The broker confirms a publish once a majority has it.")
