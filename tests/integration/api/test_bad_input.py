"""Bad input gets a 4xx problem+json and never reaches a queue (docs/api.md, "Errors")."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from support.api import MakeKey, bearer, counts

pytestmark = pytest.mark.integration

JOBS = "/api/ml/jobs"
GOOD = {"share_id": "s1", "task": "summarize", "input": {"text": "hello"}}


@pytest.fixture
def headers(make_key: MakeKey) -> dict[str, str]:
    return {**bearer(make_key()), "Content-Type": "application/json"}


def _problem(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = resp.json()
    assert body["status"] == status
    assert body["code"] == code
    assert "Traceback" not in resp.text
    return body


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b'{"share_id": "s1", "task": ', 400, "malformed_json"),
        (
            b'{"share_id": 123, "task": "summarize", "input": {"text": "x"}}',
            422,
            "validation_error",
        ),
        (
            b'{"share_id": "s1", "task": "translate", "input": {"text": "x"}}',
            422,
            "validation_error",
        ),
        (
            b'{"share_id": "s1", "task": "summarize", "input": {"text": ["x"]}}',
            422,
            "validation_error",
        ),
        (
            b'{"share_id": "s1", "task": "summarize", "input": {"text": "x"}, "options": '
            b'{"style": "haiku"}}',
            422,
            "validation_error",
        ),
        (
            b'{"share_id": "s1", "task": "summarize", "input": {"text": "x"}, "extra": 1}',
            422,
            "validation_error",
        ),
        (
            b'{"share_id": "s1", "task": "transcribe", "input": {"text": "x"}}',
            422,
            "validation_error",
        ),
        (
            b'{"share_id": "s1", "task": "transcribe", "input": {"media_url": "file:///etc/passwd"}}',
            422,
            "unsafe_url",
        ),
        (
            b'{"share_id": "s1", "task": "enrich", "input": {"media_url": "gopher://x/1"}}',
            422,
            "unsafe_url",
        ),
        (b"[1, 2, 3]", 422, "validation_error"),
    ],
)
async def test_rejected_and_nothing_queued(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    clean_db: Engine,
    content: bytes,
    status: int,
    code: str,
) -> None:
    resp = await client.post(JOBS, content=content, headers=headers)
    _problem(resp, status, code)
    assert counts(clean_db) == (0, 0)


async def test_unknown_task_names_the_field(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    resp = await client.post(JOBS, json={**GOOD, "task": "translate"}, headers=headers)
    body = _problem(resp, 422, "validation_error")
    assert ["body", "task"] in [e["loc"] for e in body["errors"]]


async def test_oversized_body_is_413(
    client: httpx.AsyncClient, headers: dict[str, str], clean_db: Engine
) -> None:
    big = {**GOOD, "input": {"text": "x" * (70 * 1024)}}
    _problem(await client.post(JOBS, json=big, headers=headers), 413, "payload_too_large")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
        yield b'{"share_id": "s1", "task": "summarize", "input": {"text": "'
        for _ in range(80):
            yield b"y" * 1024
        yield b'"}}'

    _problem(await client.post(JOBS, content=chunks(), headers=headers), 413, "payload_too_large")
    assert counts(clean_db) == (0, 0)


async def test_unknown_route_and_method_are_problems(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    _problem(await client.get("/api/ml/nope", headers=headers), 404, "not_found")
    _problem(await client.delete(JOBS, headers=headers), 405, "method_not_allowed")
    _problem(await client.get(f"{JOBS}/not-a-uuid", headers=headers), 422, "validation_error")
