"""The vocabulary hint: a glossary, so Whisper reads the terms as context, not as speech."""

from __future__ import annotations

from bookmarkai_ml.domain.vocabulary import decoder_hint


def test_terms_are_framed_as_a_glossary() -> None:
    assert decoder_hint(["pgvector", "quorum queues"]) == "Glossary: pgvector, quorum queues."


def test_no_vocabulary_is_no_hint() -> None:
    assert decoder_hint([]) is None
