"""The local media store and S3 URI handling: keys cannot escape the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from bookmarkai_ml import bootstrap
from bookmarkai_ml.config import Settings
from bookmarkai_ml.domain.media_keys import key_part, source_key
from bookmarkai_ml.errors import InvalidInputError
from bookmarkai_ml.media.storage import LocalMediaStore, safe_key, split_s3_uri


def test_put_and_fetch_round_trip(tmp_path: Path) -> None:
    store = LocalMediaStore(tmp_path / "store")
    src = tmp_path / "a.bin"
    src.write_bytes(b"media")
    uri = store.put("tenant/share/job/source", src)
    assert uri == "local://tenant/share/job/source"
    assert store.fetch(uri, tmp_path / "copy").read_bytes() == b"media"


@pytest.mark.parametrize("key", ["", "/etc/passwd", "../x", "a/../../x"])
def test_keys_cannot_escape(key: str) -> None:
    with pytest.raises(InvalidInputError):
        safe_key(key)


def test_fetch_of_a_missing_or_foreign_uri_is_refused(tmp_path: Path) -> None:
    store = LocalMediaStore(tmp_path)
    with pytest.raises(InvalidInputError, match="no such media"):
        store.fetch("local://nope", tmp_path / "x")
    with pytest.raises(InvalidInputError, match="not a local"):
        store.fetch("s3://b/k", tmp_path / "x")


def test_s3_uris_split_into_bucket_and_key() -> None:
    assert split_s3_uri("s3://bookmarkai-media-development/a/b.mp4") == (
        "bookmarkai-media-development",
        "a/b.mp4",
    )
    for bad in ("s3://bucket", "s3:///key", "http://x/y", "s3://b/../k"):
        with pytest.raises(InvalidInputError):
            split_s3_uri(bad)


def test_the_default_store_is_the_local_media_dir(tmp_path: Path) -> None:
    store = bootstrap.media_store(Settings(environment="test", data_dir=tmp_path))
    assert isinstance(store, LocalMediaStore)
    assert store.root == tmp_path / "media"


def test_ids_become_safe_key_parts() -> None:
    assert key_part("../../etc") == "_.._etc"
    assert key_part("..") == "_"
    assert key_part("share/1 x") == "share_1_x"
    assert safe_key("/".join(key_part(p) for p in ("t", "..", "a/b"))) == "t/_/a_b"
    assert source_key("t", "..", "a/b") == "t/_/a_b/source"
