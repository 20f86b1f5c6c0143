"""MediaStore adapters: a local directory (the default) or an S3-compatible bucket.

MinIO in development (bucket ``bookmarkai-media-development``, design default) and AWS
S3 in production are the same code: boto3 with an ``endpoint_url``. boto3 is imported
here and nowhere else. Keys are relative paths; a key that would escape the store
(``..``, absolute) is refused.
"""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath
from typing import Any

from bookmarkai_ml.config import StorageSettings
from bookmarkai_ml.errors import InvalidInputError, MediaError, RetryableError

LOCAL_SCHEME = "local://"


def safe_key(key: str) -> str:
    """``key`` as a normalised relative path; refuses traversal and absolute keys."""
    path = PurePosixPath(key)
    if not key or path.is_absolute() or ".." in path.parts:
        raise InvalidInputError(f"unsafe storage key {key!r}")
    return str(path)


class LocalMediaStore:
    """Media kept under a directory; URIs look like ``local://<key>``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, key: str, path: Path) -> str:
        dest = self.root / safe_key(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
        return LOCAL_SCHEME + safe_key(key)

    def fetch(self, uri: str, dest: Path) -> Path:
        if not uri.startswith(LOCAL_SCHEME):
            raise InvalidInputError(f"not a local media URI: {uri!r}")
        src = self.root / safe_key(uri.removeprefix(LOCAL_SCHEME))
        if not src.is_file():
            raise InvalidInputError(f"no such media: {uri}", code="not_found")
        shutil.copyfile(src, dest)
        return dest

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with ``prefix`` (a directory); returns how many."""
        top = self.root / safe_key(prefix)
        if not top.is_dir():
            return 0
        count = sum(1 for p in top.rglob("*") if p.is_file())
        shutil.rmtree(top)
        return count

    def delete(self, uri: str) -> bool:
        """Delete the object at a ``local://`` URI; False if it is not here (or not ours)."""
        if not uri.startswith(LOCAL_SCHEME):
            return False
        path = self.root / safe_key(uri.removeprefix(LOCAL_SCHEME))
        if not path.is_file():
            return False
        path.unlink()
        return True


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key)."""
    if not uri.startswith("s3://"):
        raise InvalidInputError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise InvalidInputError(f"s3 URI needs a bucket and a key: {uri!r}")
    return bucket, safe_key(key)


class S3MediaStore:
    """Media in an S3-compatible bucket (MinIO, AWS S3); URIs are ``s3://bucket/key``.

    ``fetch`` refuses objects over ``max_bytes`` before downloading them.
    """

    def __init__(self, storage: StorageSettings, *, max_bytes: int, client: Any = None) -> None:
        self.bucket = storage.s3_bucket
        self._max_bytes = max_bytes
        self._client = client or _client(storage)

    def put(self, key: str, path: Path) -> str:
        key = safe_key(key)
        with _translated("upload"):
            self._client.upload_file(str(path), self.bucket, key)
        return f"s3://{self.bucket}/{key}"

    def fetch(self, uri: str, dest: Path) -> Path:
        bucket, key = split_s3_uri(uri)
        with _translated("download"):
            size = int(self._client.head_object(Bucket=bucket, Key=key)["ContentLength"])
            if size > self._max_bytes:
                raise MediaError(f"{uri} is {size} bytes, over {self._max_bytes}", code="too_large")
            self._client.download_file(bucket, key, str(dest))
        return dest

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object of the bucket under ``prefix``; returns how many."""
        prefix = safe_key(prefix).rstrip("/") + "/"
        count = 0
        with _translated("delete"):
            pages = self._client.get_paginator("list_objects_v2")
            for page in pages.paginate(Bucket=self.bucket, Prefix=prefix):
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if keys:  # at most 1,000 per page, the DeleteObjects limit
                    self._client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})
                    count += len(keys)
        return count

    def delete(self, uri: str) -> bool:
        """Delete the object at an ``s3://`` URI of this store's bucket; False otherwise."""
        if not uri.startswith(f"s3://{self.bucket}/"):
            return False
        bucket, key = split_s3_uri(uri)
        with _translated("delete"):
            self._client.delete_object(Bucket=bucket, Key=key)
        return True


def _client(storage: StorageSettings) -> Any:
    import boto3
    from botocore.config import Config

    def secret(value: Any) -> str | None:
        return value.get_secret_value() if value is not None else None

    return boto3.client(
        "s3",
        endpoint_url=storage.s3_endpoint_url,
        aws_access_key_id=secret(storage.s3_access_key),
        aws_secret_access_key=secret(storage.s3_secret_key),
        region_name=storage.s3_region,
        config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10),
    )


class _translated:
    """Turns botocore errors into the platform's: missing -> permanent, else retryable."""

    def __init__(self, action: str) -> None:
        self.action = action

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: Any, tb: Any) -> None:
        if exc is None or isinstance(exc, MediaError | InvalidInputError):
            return
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchKey", "NoSuchBucket", "403", "AccessDenied"):
                raise InvalidInputError(
                    f"S3 {self.action} refused: {code}", code="not_found"
                ) from exc
        if isinstance(exc, BotoCoreError | ClientError):
            raise RetryableError(
                f"S3 {self.action} failed: {exc}", code="storage_unavailable"
            ) from exc
