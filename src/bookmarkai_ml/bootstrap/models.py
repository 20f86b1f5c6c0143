"""Which model adapter serves a request, built from settings and cached per process.

The model-selection half of the composition root: ``bootstrap`` calls these and
hands the built ports to the services; nothing else imports this module. Adapters
are cached per process and settings, so each model loads once (docs/models.md).
Heavy libraries (torch, onnxruntime, faster-whisper, gpt4all) are imported inside
the branch that needs them: a process that never runs a task never loads its model.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from bookmarkai_ml.config import ModelSettings, Settings
from bookmarkai_ml.contracts import TaskType
from bookmarkai_ml.domain.model_selection import (
    LOCAL_MODEL,
    EmbedderChoice,
    choose_embedder,
)
from bookmarkai_ml.domain.pricing import PriceTable
from bookmarkai_ml.errors import ArtifactMismatchError, ConfigurationError
from bookmarkai_ml.ports import Embedder, Summarizer, Transcriber
from bookmarkai_ml.providers.openai_http import OpenAIHTTP

if TYPE_CHECKING:
    from bookmarkai_ml.providers.tagger import Tagger

TranscriberFactory = Callable[[], Transcriber]

_LOCK = threading.RLock()
_CACHE: dict[tuple[object, ...], object] = {}


def _cached(key: tuple[object, ...], build: Callable[[], object]) -> object:
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = build()
        return _CACHE[key]


def clear_cache() -> None:
    """Forget every built adapter and close their HTTP clients (tests, settings reload)."""
    with _LOCK:
        for item in _CACHE.values():
            if isinstance(item, OpenAIHTTP):
                item.close()
        _CACHE.clear()


def api_configured(models: ModelSettings) -> bool:
    """An OpenAI-compatible endpoint is usable: a key is set, or a non-OpenAI base URL."""
    return models.openai_api_key is not None or "api.openai.com" not in models.openai_base_url


def onnx_cache_dir(settings: Settings) -> Path:
    return settings.models.onnx_cache_dir or settings.data_dir / "models" / "onnx"


def choose(settings: Settings, *, content_chars: int, model: str | None = None) -> EmbedderChoice:
    """The embedder choice for content of ``content_chars`` (``domain.model_selection``).

    Raises:
        ConfigurationError: an unknown ``settings.models.embedder``.
    """
    m = settings.models
    try:
        return choose_embedder(
            configured=m.embedder,
            content_chars=content_chars,
            api_configured=api_configured(m),
            requested_model=model,
            small_model=m.openai_embedding_small,
            large_model=m.openai_embedding_large,
            large_min_chars=m.large_embedding_min_chars,
        )
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from exc


def build_embedder(settings: Settings, choice: EmbedderChoice) -> Embedder:
    """The (cached) adapter for ``choice``.

    Raises:
        ConfigurationError: the model cannot be loaded, or the API is not configured.
    """
    m = settings.models
    key: tuple[object, ...] = (choice, m.embedding_model_path, m.openai_base_url)
    key += (m.openai_api_key, m.embedding_threads, m.onnx_quantize, onnx_cache_dir(settings))
    key += (m.artifacts_dir,)
    if choice.kind == "local":
        from bookmarkai_ml.providers.embed_local import SentenceTransformerEmbedder

        def build() -> object:
            return SentenceTransformerEmbedder(
                model_path=_embedding_model_dir(m), batch_size=m.embedding_batch_size
            )

    elif choice.kind == "onnx":
        from bookmarkai_ml.providers.embed_onnx import OnnxEmbedder

        def build() -> object:
            return OnnxEmbedder(
                cache_dir=onnx_cache_dir(settings),
                model_path=_embedding_model_dir(m),
                threads=m.embedding_threads,
                quantize=m.onnx_quantize,
            )

    elif choice.kind == "openai":
        from bookmarkai_ml.providers.embed_openai import OpenAIEmbedder

        build = functools.partial(
            OpenAIEmbedder,
            http=_http(m),
            model=choice.model,
            batch_size=m.embedding_batch_size,
        )
    else:
        raise ConfigurationError(f"unknown embedder kind {choice.kind!r}")
    embedder = _cached(("embedder", *key), build)
    assert isinstance(embedder, Embedder)
    return embedder


def _embedding_model_dir(models: ModelSettings) -> Path:
    """The configured sentence-transformers dir (not pinned), or bundled all-MiniLM-L6-v2
    with every file checked against its pin before anything loads it.

    Raises:
        ArtifactMismatchError: a bundled file differs from its pin.
    """
    if models.embedding_model_path is not None:
        return models.embedding_model_path
    from bookmarkai_ml.providers.embed_local import bundled_model_path

    return bundled_model_path(models.artifacts_dir)


def _http(models: ModelSettings) -> OpenAIHTTP:
    client = _cached(
        (
            "http",
            models.openai_base_url,
            models.openai_api_key.get_secret_value() if models.openai_api_key else None,
            models.request_timeout_s,
            models.request_max_attempts,
        ),
        functools.partial(OpenAIHTTP.from_settings, models),
    )
    assert isinstance(client, OpenAIHTTP)
    return client


def local_embedder(settings: Settings) -> Embedder:
    """The fastest local all-MiniLM-L6-v2 adapter (for the extractive summarizer)."""
    kind = "local" if settings.models.embedder == "local" else "onnx"
    return build_embedder(settings, EmbedderChoice(kind, LOCAL_MODEL))


def build_tagger(settings: Settings) -> Tagger:
    """The one tagger every summarizer uses: noun phrases ranked by the local MiniLM.

    Raises:
        ArtifactMismatchError: a file of the pinned spaCy model does not match.
    """
    from bookmarkai_ml.providers.pos import SpacyPosTagger
    from bookmarkai_ml.providers.tagger import Tagger

    embedder = local_embedder(settings)
    pos = _cached(("pos", "spacy-en-sm"), SpacyPosTagger)
    assert isinstance(pos, SpacyPosTagger)
    tagger = _cached(("tagger", id(embedder)), functools.partial(Tagger, embedder, pos))
    assert isinstance(tagger, Tagger)
    return tagger


LLM_INSTALL_HINT = "the local LLM comes with the llm extra: make install EXTRAS=llm"

#: Summarizer names of the previous release, still accepted (a task's ``options.provider``).
SUMMARIZER_ALIASES = {"llamacpp": "local_llm"}


def build_summarizer(settings: Settings, name: str | None = None) -> Summarizer:
    """The summarizer called ``name`` (default ``settings.models.summarizer``).

    The LLM summarizers fall back to the extractive one, and take their tags from the
    tagger when the model's fail validation (``providers.llm_summary``).

    Raises:
        ConfigurationError: an unknown name, or the ``llm`` extra is missing.
        ArtifactMismatchError: the bundled GGUF (or one of its parts) fails its sha256.
    """
    m = settings.models
    kind = name or m.summarizer
    kind = SUMMARIZER_ALIASES.get(kind, kind)
    key: tuple[object, ...] = ("summarizer", kind, m.embedder, onnx_cache_dir(settings))
    if kind == "extractive":
        from bookmarkai_ml.providers.summarize_extractive import ExtractiveSummarizer

        build: Callable[[], object] = functools.partial(
            ExtractiveSummarizer, local_embedder(settings), tagger=build_tagger(settings)
        )
    elif kind == "openai":
        from bookmarkai_ml.providers.summarize_openai import OpenAIChatSummarizer

        key += (m.chat_model, m.openai_base_url, m.openai_api_key)
        key += (m.summary_chunk_tokens, m.summary_max_output_tokens)
        build = functools.partial(
            OpenAIChatSummarizer,
            http=_http(m),
            model=m.chat_model,
            fallback=build_summarizer(settings, "extractive"),
            tagger=build_tagger(settings).tags,
            chunk_tokens=m.summary_chunk_tokens,
            max_output_tokens=m.summary_max_output_tokens,
        )
    elif kind == "local_llm":
        from bookmarkai_ml.providers.summarize_gguf import GGUFSummarizer

        key += (m.gguf_path, m.artifacts_dir, m.gguf_threads, m.gguf_context_tokens)
        key += (m.gguf_chunk_tokens, m.gguf_max_output_tokens)

        def local_llm() -> object:  # deferred: assembling and hashing 1.1 GB happen once
            return GGUFSummarizer(
                gguf_path=gguf_file(settings),
                fallback=build_summarizer(settings, "extractive"),
                tagger=build_tagger(settings).tags,
                threads=m.gguf_threads or os.cpu_count() or 1,
                context_tokens=m.gguf_context_tokens,
                window_tokens=m.gguf_chunk_tokens,
                max_output_tokens=m.gguf_max_output_tokens,
            )

        build = local_llm
    else:
        raise ConfigurationError(f"unknown summarizer {kind!r}: extractive | openai | local_llm")
    summarizer = _cached(key, build)
    assert isinstance(summarizer, Summarizer)
    return summarizer


def gguf_file(settings: Settings) -> Path:
    """The local LLM's GGUF: the user's own file, or the bundled one assembled and verified.

    Raises:
        ConfigurationError: the ``llm`` extra (its model packages) is not installed.
        ArtifactMismatchError: a part or the assembled file fails its sha256.
    """
    m = settings.models
    if m.gguf_path is not None:
        return m.gguf_path
    from bookmarkai_ml.providers import artifacts, pins

    try:
        return artifacts.materialize(pins.QWEN, m.artifacts_dir) / pins.QWEN_GGUF_NAME
    except ArtifactMismatchError:
        raise
    except ConfigurationError as exc:
        raise ConfigurationError(f"{exc}; {LLM_INSTALL_HINT}") from exc


def transcribers(settings: Settings, prices: PriceTable) -> dict[str, TranscriberFactory]:
    """A factory per transcription provider; the service builds each on first use.

    Deferred, so a transcribe worker that only ever gets ``openai`` jobs never loads
    faster-whisper, and one that never gets a job loads nothing.
    """

    def local() -> Transcriber:
        from bookmarkai_ml.providers.whisper_local import LocalWhisperTranscriber

        return LocalWhisperTranscriber(settings.models)

    def openai() -> Transcriber:
        from bookmarkai_ml.providers.whisper_openai import OpenAIWhisperTranscriber

        return OpenAIWhisperTranscriber.from_settings(settings.models, prices)

    return {"local": local, "openai": openai}


def warm_up(settings: Settings, tasks: Iterable[TaskType]) -> list[str]:
    """Load now the local models ``tasks`` use by default, as each first job would; say which.

    A worker calls this before it takes a job (``workers.warmup``), ``models prepare``
    to check that each configured model loads. API models (OpenAI) load nothing.

    Raises:
        ConfigurationError: a configured model cannot be loaded.
        ArtifactMismatchError: a bundled file fails its sha256.
    """
    m = settings.models
    loaded: list[str] = []
    for task in dict.fromkeys(tasks):
        if task is TaskType.SUMMARIZE and m.summarizer != "openai":
            build_summarizer(settings)
            loaded.append(f"summarizer {m.summarizer}")
        elif task is TaskType.SUMMARIZE:
            build_tagger(settings)  # the chat summarizer's tags and fallback are local
            loaded.append("tagger")
        elif task is TaskType.EMBED:
            choice = choose(settings, content_chars=0)
            if choice.kind != "openai":
                build_embedder(settings, choice)
                loaded.append(f"embedder {choice.kind} {choice.model}")
        elif task is TaskType.TRANSCRIBE and m.transcriber == "local":
            from bookmarkai_ml.providers.whisper_local import LocalWhisperTranscriber

            transcriber = LocalWhisperTranscriber(m)
            transcriber.warm_up()  # the loaded model is cached per process (load_model)
            loaded.append(f"whisper {transcriber.model}")
    return loaded
