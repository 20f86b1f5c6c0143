"""A job's vocabulary (names, jargon) as the one hint string Whisper decoders are given.

Both transcribers send it: faster-whisper as ``hotwords``, whisper-1 as ``prompt``. Whisper
reads either as text said just before the audio. Bare terms ("pgvector, quorum queues")
then read as speech already transcribed, and Whisper base skipped the words they name
(measured: "The pgvector extension and the quorum queues both need tuning." came out as
"Both need tuning."); framed as a glossary they are context instead
(docs/transcription.md, "Vocabulary").
"""

from __future__ import annotations

from collections.abc import Sequence

GLOSSARY = "Glossary: {}."


def decoder_hint(vocabulary: Sequence[str], frame: str = GLOSSARY) -> str | None:
    """The vocabulary as one hint string for the decoder, or None without one."""
    return frame.format(", ".join(vocabulary)) if vocabulary else None
