"""One exception tree for the whole platform.

Workers decide whether to retry by type alone: a ``PermanentError`` is never
retried, a ``RetryableError`` is retried with backoff up to a limit. Third-party
errors are translated at the adapter boundary (``raise OurError(...) from exc``).
The HTTP layer maps this tree to ``application/problem+json`` in one handler.

    BookmarkAIError
    ├── ConfigurationError            bad or unsafe settings (start-up)
    │   └── ArtifactMismatchError     a bundled model file fails its pinned sha256
    ├── PermanentError                never retried; the job ends ``failed``
    │   ├── ContractError             a message breaks its contract (names the field)
    │   │   └── UnknownTaskError      no task type, queue or Celery name so called (a KeyError)
    │   ├── InvalidInputError         bad request / unusable input
    │   │   └── UnsafeURLError        SSRF guard refused a URL or address
    │   ├── MediaError                corrupt, silent-less, no audio, too long, too big
    │   ├── PublishRejectedError      unroutable or oversized message
    │   └── ProviderRejectedError     a model provider refused the request (4xx)
    ├── RetryableError                retried with backoff, then ``failed``
    │   ├── BrokerUnavailableError    connection lost, confirm timeout, breaker open
    │   ├── DatabaseUnavailableError  the database (or cost ledger) is unreachable
    │   └── ProviderUnavailableError  429/5xx/timeouts from a model provider
    ├── BudgetExceededError           a budget window is full; carries ``retry_after``
    ├── NotFoundError                 no such job / key / share (for this tenant)
    │   └── QueueNotFoundError        the broker has no such queue (topology not declared)
    ├── ConflictError                 the job's state forbids the operation
    │   └── NoStoredInputError        a reprocess finds no input of a task to reuse
    ├── AuthError                     missing, wrong or revoked API key
    └── ForbiddenError                a valid key without the scope the operation needs
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path


class BookmarkAIError(Exception):
    """Root of every error this package raises on purpose."""

    code: str = "internal_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ConfigurationError(BookmarkAIError):
    """Settings are missing, inconsistent, or unsafe for the environment."""

    code = "configuration_error"


class ArtifactMismatchError(ConfigurationError):
    """A model file is missing or its sha256 differs from the one pinned in the code."""

    code = "artifact_mismatch"

    def __init__(self, message: str, *, path: Path) -> None:
        super().__init__(message)
        self.path = path


class PermanentError(BookmarkAIError):
    """Retrying cannot help; the job ends ``failed`` with ``code``."""

    code = "permanent_error"


class ContractError(PermanentError):
    """A message does not match its versioned contract."""

    code = "contract_violation"


class UnknownTaskError(ContractError, KeyError):
    """No row of the task table (``contracts.TASKS``) has that type, queue or Celery name.

    Also a ``KeyError``, so ``Mapping.get`` and ``except KeyError`` treat it as a miss.
    """

    __str__ = Exception.__str__  # KeyError's would quote the message


class InvalidInputError(PermanentError):
    """The input cannot be processed as given."""

    code = "invalid_input"


class UnsafeURLError(InvalidInputError):
    """The URL, or an address it resolves or redirects to, is not allowed."""

    code = "unsafe_url"


class MediaError(PermanentError):
    """Media is corrupt, has no audio, is empty, too long or too large.

    ``code`` is one of ``corrupt_media``, ``no_audio_stream``, ``empty_media``,
    ``too_long``, ``too_large``, ``download_timeout``, ``unsupported_format``.
    """

    code = "corrupt_media"


class PublishRejectedError(PermanentError):
    """The broker refused the message for good (unroutable, too large)."""

    code = "publish_rejected"


class ProviderRejectedError(PermanentError):
    """A model provider refused the request (a 4xx other than 408/429)."""

    code = "provider_rejected"


class RetryableError(BookmarkAIError):
    """A transient failure; the operation may succeed if tried again."""

    code = "retryable_error"

    def __init__(
        self, message: str, *, code: str | None = None, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after_s = retry_after_s


class BrokerUnavailableError(RetryableError):
    """The broker connection is down, a confirm timed out, or the breaker is open."""

    code = "broker_unavailable"


class DatabaseUnavailableError(RetryableError):
    """The database, including the cost ledger, cannot be reached."""

    code = "database_unavailable"


class ProviderUnavailableError(RetryableError):
    """A model provider is rate limiting, overloaded, or timing out."""

    code = "provider_unavailable"


class BudgetExceededError(BookmarkAIError):
    """Reserving the estimated cost would overshoot a budget window."""

    code = "budget_exceeded"

    def __init__(self, message: str, *, retry_after: datetime) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotFoundError(BookmarkAIError):
    """The resource does not exist, or is not visible to the caller."""

    code = "not_found"


class QueueNotFoundError(NotFoundError):
    """The broker has no such queue: the topology is not declared, or not yet."""

    code = "queue_not_found"


class ConflictError(BookmarkAIError):
    """The resource's state does not allow the operation."""

    code = "conflict"


class NoStoredInputError(ConflictError):
    """A reprocess was given no input for a task and the share has none stored (its
    transcript is not done yet, or erasure or retention blanked it): give ``input``."""

    code = "no_stored_input"


class AuthError(BookmarkAIError):
    """Authentication failed: no key, an unknown key, or a revoked key."""

    code = "unauthorized"


class ForbiddenError(BookmarkAIError):
    """The key is valid but lacks the scope the operation needs (``admin``)."""

    code = "forbidden"
