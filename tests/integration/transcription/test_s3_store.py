"""S3MediaStore over real HTTP against moto's S3-compatible server on loopback.

The same boto3 code talks to MinIO in development and AWS S3 in production; here
the server is moto's threaded S3 implementation (no Docker, no MinIO binary).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bookmarkai_ml import bootstrap
from bookmarkai_ml.config import MediaSettings, Settings, StorageSettings
from bookmarkai_ml.errors import InvalidInputError, MediaError
from bookmarkai_ml.media.download import Downloader
from bookmarkai_ml.media.storage import S3MediaStore

pytestmark = pytest.mark.integration


def test_put_fetch_and_download_through_s3(s3_settings: StorageSettings, tmp_path: Path) -> None:
    store = S3MediaStore(s3_settings, max_bytes=1000)
    src = tmp_path / "clip.wav"
    src.write_bytes(b"RIFF-audio")
    uri = store.put("default/share/job/source", src)
    assert uri == f"s3://{s3_settings.s3_bucket}/default/share/job/source"
    assert store.fetch(uri, tmp_path / "back").read_bytes() == b"RIFF-audio"
    with Downloader(MediaSettings(), store=store) as downloader:
        got = downloader.fetch(uri, tmp_path / "dl")
    assert got.path.read_bytes() == b"RIFF-audio"


def test_missing_and_oversize_objects_are_refused(
    s3_settings: StorageSettings, tmp_path: Path
) -> None:
    store = S3MediaStore(s3_settings, max_bytes=1000)
    with pytest.raises(InvalidInputError):
        store.fetch(f"s3://{s3_settings.s3_bucket}/nope", tmp_path / "x")
    big = tmp_path / "big"
    big.write_bytes(b"x" * 2000)
    uri = store.put("big", big)
    with pytest.raises(MediaError) as exc:
        store.fetch(uri, tmp_path / "y")
    assert exc.value.code == "too_large"


def test_settings_with_an_endpoint_choose_s3(s3_settings: StorageSettings, tmp_path: Path) -> None:
    settings = Settings(environment="test", data_dir=tmp_path, storage=s3_settings)
    assert isinstance(bootstrap.media_store(settings), S3MediaStore)
