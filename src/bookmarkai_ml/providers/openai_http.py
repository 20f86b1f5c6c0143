"""The one HTTP client for OpenAI-compatible APIs (OpenAI, Ollama, vLLM, LiteLLM, ...).

Every API adapter (transcription, embeddings, chat) goes through ``OpenAIHTTP`` so
that timeouts, retries and error translation are said once:

- 408, 409, 429, 5xx and transport errors/timeouts are retried up to
  ``request_max_attempts`` with capped exponential backoff; a ``Retry-After``
  header (seconds or an HTTP date, RFC 9110 §10.2.3) or OpenAI's ``retry-after-ms``
  replaces the computed delay. A server asking for more than ``max_wait_s`` is not
  waited on in-process: the error carries ``retry_after_s`` so the job runtime
  retries the task later instead of holding a worker.
- Other 4xx become ``ProviderRejectedError`` (permanent); retries exhausted become
  ``ProviderUnavailableError`` (retryable).

httpx is imported here and nowhere else among the providers.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bookmarkai_ml.config import ModelSettings
from bookmarkai_ml.errors import ProviderRejectedError, ProviderUnavailableError

#: Statuses worth retrying: timeouts, conflicts (OpenAI uses 409 for transient locks),
#: rate limits and server errors.
_RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})

#: A multipart file part: (filename, content, content type). A ``Path`` is re-read per
#: attempt, so a retried upload never sends a half-consumed stream.
FilePart = tuple[str, bytes | Path, str]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry; delays double from ``initial_s`` up to ``max_s``."""

    max_attempts: int = 4
    initial_s: float = 0.5
    max_s: float = 8.0
    max_wait_s: float = 30.0

    def delay(self, attempt: int) -> float:
        """Backoff before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        return float(min(self.max_s, self.initial_s * 2 ** (attempt - 1)))


def parse_retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (delta or HTTP date)."""
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _error_text(response: httpx.Response) -> str:
    """The provider's error message, from OpenAI's ``{"error": {"message"}}`` if present."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message", body["error"]))[:300]
    return str(body)[:300]


class OpenAIHTTP:
    """A sync client for one OpenAI-compatible base URL; thread-safe, reuse one per process."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        timeout_s: float = 60.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"User-Agent": "bookmarkai-ml", "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)),
            follow_redirects=False,
            transport=transport,
        )

    @classmethod
    def from_settings(cls, models: ModelSettings) -> OpenAIHTTP:
        """The client for ``settings.models.openai_base_url`` and its key."""
        key = models.openai_api_key.get_secret_value() if models.openai_api_key else None
        return cls(
            base_url=models.openai_base_url,
            api_key=key,
            timeout_s=models.request_timeout_s,
            retry=RetryPolicy(max_attempts=max(1, models.request_max_attempts)),
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OpenAIHTTP:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def post_json(self, path: str, body: Mapping[str, Any]) -> Any:
        """POST ``body`` as JSON to ``path``; return the decoded JSON response.

        Raises:
            ProviderRejectedError: a 4xx other than 408/409/429.
            ProviderUnavailableError: retries exhausted, or a long Retry-After.
        """
        return self._request(path, lambda: {"json": dict(body)})

    def post_multipart(
        self, path: str, *, data: Mapping[str, str], files: Mapping[str, FilePart]
    ) -> Any:
        """POST form ``data`` and ``files`` as multipart/form-data; return decoded JSON.

        Raises:
            ProviderRejectedError: a 4xx other than 408/409/429.
            ProviderUnavailableError: retries exhausted, or a long Retry-After.
        """

        def build() -> dict[str, Any]:
            parts = {
                name: (fname, c.read_bytes() if isinstance(c, Path) else c, ctype)
                for name, (fname, c, ctype) in files.items()
            }
            return {"data": dict(data), "files": parts}

        return self._request(path, build)

    def _request(self, path: str, build: Callable[[], dict[str, Any]]) -> Any:
        url = "/" + path.lstrip("/")
        attempts = self.retry.max_attempts
        for attempt in range(1, attempts + 1):
            wait: float | None = None
            try:
                response = self._client.post(url, **build())
            except httpx.TimeoutException as exc:
                problem: str = f"timeout: {exc}"
            except httpx.TransportError as exc:
                problem = f"transport error: {exc}"
            else:
                if response.is_success:
                    return _decode(response)
                if response.status_code not in _RETRYABLE_STATUSES:
                    raise ProviderRejectedError(
                        f"{url} answered {response.status_code}: {_error_text(response)}"
                    )
                problem = f"{response.status_code}: {_error_text(response)}"
                wait = parse_retry_after(response.headers)
            if wait is not None and wait > self.retry.max_wait_s:
                raise ProviderUnavailableError(
                    f"{url} asked to retry after {wait:.0f}s ({problem})", retry_after_s=wait
                )
            if attempt == attempts:
                raise ProviderUnavailableError(
                    f"{url} failed after {attempts} attempts ({problem})", retry_after_s=wait
                )
            self._sleep(self.retry.delay(attempt) if wait is None else wait)
        raise AssertionError("unreachable")  # pragma: no cover


def _decode(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, json.JSONDecodeError) as exc:
        raise ProviderUnavailableError(
            f"provider answered {response.status_code} with a body that is not JSON"
        ) from exc
