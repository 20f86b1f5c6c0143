"""The shared OpenAI HTTP client against a real loopback server: retries, Retry-After, errors."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from bookmarkai_ml.config import ModelSettings
from bookmarkai_ml.errors import ProviderRejectedError, ProviderUnavailableError
from bookmarkai_ml.providers.openai_http import OpenAIHTTP, RetryPolicy, parse_retry_after
from support.openai_stub import OpenAIStub, StubResponse


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub() as server:
        yield server


class Sleeps(list[float]):
    """Records the delays the client asked for, without sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(stub: OpenAIStub, sleeps: Sleeps, *, attempts: int = 4) -> OpenAIHTTP:
    return OpenAIHTTP(
        base_url=stub.base_url,
        api_key="sk-test",
        timeout_s=2.0,
        retry=RetryPolicy(max_attempts=attempts, initial_s=0.5, max_s=2.0, max_wait_s=30),
        sleep=sleeps,
    )


def test_json_post_sends_the_key_and_returns_the_body(stub: OpenAIStub) -> None:
    stub.script.append(StubResponse(200, {"ok": True}))
    with client(stub, Sleeps()) as http:
        assert http.post_json("/chat/completions", {"model": "m"}) == {"ok": True}
    request = stub.requests[0]
    assert request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer sk-test"
    assert request.fields["json"] == '{"model":"m"}'


def test_429_with_retry_after_seconds_is_honoured(stub: OpenAIStub) -> None:
    stub.script.extend(
        [
            StubResponse(429, {"error": {"message": "slow down"}}, {"Retry-After": "3"}),
            StubResponse(200, {"ok": 1}),
        ]
    )
    sleeps = Sleeps()
    with client(stub, sleeps) as http:
        assert http.post_json("x", {}) == {"ok": 1}
    assert sleeps == [3.0]
    assert len(stub.requests) == 2


def test_retry_after_http_date_is_honoured() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    date = format_datetime(now + timedelta(seconds=7), usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=now) == 7.0
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"retry-after": "garbage"}) is None
    assert parse_retry_after({}) is None


def test_5xx_backs_off_exponentially_with_a_cap_then_gives_up(stub: OpenAIStub) -> None:
    stub.script.extend(StubResponse(503, {"error": {"message": "busy"}}) for _ in range(5))
    sleeps = Sleeps()
    with client(stub, sleeps, attempts=5) as http, pytest.raises(ProviderUnavailableError) as exc:
        http.post_json("x", {})
    assert sleeps == [0.5, 1.0, 2.0, 2.0]
    assert len(stub.requests) == 5
    assert "busy" in str(exc.value)


def test_a_long_retry_after_is_handed_to_the_job_runtime(stub: OpenAIStub) -> None:
    stub.script.append(StubResponse(429, {}, {"Retry-After": "120"}))
    sleeps = Sleeps()
    with client(stub, sleeps) as http, pytest.raises(ProviderUnavailableError) as exc:
        http.post_json("x", {})
    assert sleeps == []
    assert exc.value.retry_after_s == 120.0


def test_4xx_is_permanent_and_not_retried(stub: OpenAIStub) -> None:
    stub.script.append(StubResponse(400, {"error": {"message": "bad model"}}))
    with client(stub, Sleeps()) as http, pytest.raises(ProviderRejectedError, match="bad model"):
        http.post_json("x", {})
    assert len(stub.requests) == 1


def test_timeouts_are_retried(stub: OpenAIStub) -> None:
    stub.script.append(StubResponse(200, {"late": 1}, delay_s=1.0))
    stub.script.append(StubResponse(200, {"ok": 2}))
    sleeps = Sleeps()
    http = OpenAIHTTP(
        base_url=stub.base_url, api_key=None, timeout_s=0.3, retry=RetryPolicy(), sleep=sleeps
    )
    with http:
        assert http.post_json("x", {}) == {"ok": 2}
    assert sleeps == [0.5]


def test_connection_refused_is_retryable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    http = OpenAIHTTP(
        base_url=f"http://127.0.0.1:{port}/v1",
        api_key=None,
        retry=RetryPolicy(max_attempts=2),
        sleep=Sleeps(),
    )
    with http, pytest.raises(ProviderUnavailableError, match="after 2 attempts"):
        http.post_json("x", {})


def test_non_json_success_is_a_provider_fault(stub: OpenAIStub) -> None:
    stub.script.append(StubResponse(200, b"<html>"))
    with client(stub, Sleeps()) as http, pytest.raises(ProviderUnavailableError, match="not JSON"):
        http.post_json("x", {})


def test_multipart_upload_is_resent_whole_on_retry(stub: OpenAIStub, tmp_path: Path) -> None:
    audio = tmp_path / "a.wav"
    audio.write_bytes(b"RIFF" + bytes(40) + bytes(32000))
    stub.script.append(StubResponse(502, {}))
    with client(stub, Sleeps()) as http:
        body = http.post_multipart(
            "/audio/transcriptions",
            data={"model": "whisper-1", "response_format": "verbose_json"},
            files={"file": ("a.wav", audio, "audio/wav")},
        )
    assert body["duration"] == 1.0
    assert [len(r.files["file"]) for r in stub.requests] == [32044, 32044]
    assert stub.requests[1].fields["response_format"] == "verbose_json"


def test_from_settings_uses_the_models_group(stub: OpenAIStub) -> None:
    models = ModelSettings(openai_base_url=stub.base_url, request_max_attempts=2)
    http = OpenAIHTTP.from_settings(models)
    assert http.retry.max_attempts == 2
    assert http.base_url == stub.base_url
    http.close()
