"""``process`` tells URLs from files and text, and refuses URLs it would not fetch."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bookmarkai_ml.cli.main import app
from bookmarkai_ml.cli.process import UnsupportedInputError, classify


@pytest.mark.parametrize(
    "raw",
    [
        "https://cdn.example/talk.mp4",
        "HTTP://cdn.example/talk.mp4",
        "Https://cdn.example/a.mp3",
        "s3://bucket/key.mp4",
    ],
)
def test_media_urls_of_every_case_are_media(raw: str) -> None:
    item = classify(raw)
    assert item.media_url == raw
    assert item.text is None


@pytest.mark.parametrize(
    "raw",
    [
        "file:///etc/passwd",
        "file:/etc/passwd",
        "FILE:///etc/passwd",
        "ftp://files.example/a.mp3",
        "gopher://127.0.0.1:70/_x",
        "dict://127.0.0.1:11211/stat",
        "javascript:alert(1)",
        "data:text/plain;base64,SGVsbG8=",
        "sftp://host/file",
    ],
)
def test_urls_of_other_schemes_are_refused(raw: str) -> None:
    with pytest.raises(UnsupportedInputError, match="not supported"):
        classify(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "Note: the meeting moved to Tuesday.",
        "ratio:3 of the samples",
        "Celery workers consume from RabbitMQ quorum queues.",
    ],
)
def test_text_with_a_colon_is_text(raw: str) -> None:
    item = classify(raw)
    assert item.text == raw
    assert item.media_url is None


def test_a_local_text_file_is_its_content(tmp_path: Path) -> None:
    note = tmp_path / "note.md"
    note.write_text("Saved for later: quorum queues.")
    assert classify(str(note)).text == "Saved for later: quorum queues."


def test_process_exits_2_with_a_clear_message_before_touching_anything(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BOOKMARKAI_ML_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("BOOKMARKAI_ML_BROKER_URL", raising=False)
    result = CliRunner().invoke(app, ["process", "file:///etc/passwd"])
    assert result.exit_code == 2, result.output
    assert "file: URLs are not supported" in result.output
    assert not (tmp_path / "data").exists()  # no embedded database was started
