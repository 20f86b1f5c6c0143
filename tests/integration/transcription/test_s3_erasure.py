"""Erasure deletes the share's objects from an S3-compatible store (moto's server on
loopback, the same boto3 code as MinIO and AWS S3): the kept copies under
``<tenant>/<share>/`` and an ``s3://`` input of our bucket, and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from bookmarkai_ml.config import StorageSettings
from bookmarkai_ml.contracts import TranscribeTask
from bookmarkai_ml.db import jobs
from bookmarkai_ml.db.engine import SessionFactory, transaction
from bookmarkai_ml.domain.media_keys import source_key
from bookmarkai_ml.media.storage import S3MediaStore
from bookmarkai_ml.services.erasure import ErasureService

pytestmark = pytest.mark.integration


@pytest.fixture
def store(s3_settings: StorageSettings) -> S3MediaStore:
    return S3MediaStore(s3_settings, max_bytes=10_000)


def _keys(store: S3MediaStore) -> set[str]:
    listed = store._client.list_objects_v2(Bucket=store.bucket)
    return {o["Key"] for o in listed.get("Contents", [])}


def test_erasure_deletes_the_shares_objects_from_s3(
    store: S3MediaStore, clean_db: Engine, sessions: SessionFactory, tmp_path: Path
) -> None:
    clip = tmp_path / "clip.wav"
    clip.write_bytes(b"RIFF-audio")
    upload = store.put("uploads/t/v-1.wav", clip)  # the app's own upload, given by URI
    store.put("uploads/t/v-2.wav", clip)
    with transaction(sessions) as session:
        ids = [
            jobs.submit(
                session, TranscribeTask(tenant_id="t", share_id="v 1", media_url=url)
            ).job.id
            for url in (upload, "https://cdn.example/v1.mp4")
        ]
    for job_id in ids:
        store.put(source_key("t", "v 1", str(job_id)), clip)
    store.put(source_key("t", "v 2", "j3"), clip)
    store.put(source_key("u", "v 1", "j4"), clip)
    store.put(source_key("t", "v_1", "j5"), clip)  # another share, the same safe segment

    done = ErasureService(sessions, store).forget(tenant_id="t", share_id="v 1")

    assert done.removed["media_objects"] == 3
    assert _keys(store) == {
        "uploads/t/v-2.wav",
        "t/v_2/j3/source",
        "u/v_1/j4/source",
        "t/v_1/j5/source",
    }
