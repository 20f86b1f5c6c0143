"""Choosing the local LLM: its name, the deprecated alias, and settings refused before loading."""

from __future__ import annotations

from pathlib import Path

import pytest

from bookmarkai_ml.bootstrap import models
from bookmarkai_ml.config import ModelSettings, SettingDeprecationWarning, Settings
from bookmarkai_ml.errors import ConfigurationError
from bookmarkai_ml.fakes import FakeSummarizer


def test_llamacpp_is_a_deprecated_alias_of_local_llm() -> None:
    with pytest.warns(SettingDeprecationWarning, match="use local_llm"):
        assert ModelSettings(summarizer="llamacpp").summarizer == "local_llm"
    assert ModelSettings(summarizer="local_llm").summarizer == "local_llm"
    assert models.SUMMARIZER_ALIASES["llamacpp"] == "local_llm"


def test_an_unknown_summarizer_names_the_choices(tmp_path: Path) -> None:
    settings = Settings(environment="test", data_dir=tmp_path)
    with pytest.raises(ConfigurationError, match="extractive \\| openai \\| local_llm"):
        models.build_summarizer(settings, "gpt2")


def test_a_window_that_overflows_the_context_is_refused_before_loading(tmp_path: Path) -> None:
    from bookmarkai_ml.providers.summarize_gguf import GGUFSummarizer

    with pytest.raises(ConfigurationError, match="gguf"):
        GGUFSummarizer(
            gguf_path=tmp_path / "none.gguf",
            fallback=FakeSummarizer(),
            context_tokens=2048,
            window_tokens=2000,
        )
