"""Webhook schemas: ``WebhookCreate`` in; ``WebhookPublic``, ``WebhookCreated`` (with the
secret, shown once) and the delivery log out."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from bookmarkai_ml.api.schemas.examples import examples_of
from bookmarkai_ml.db.models import Webhook, WebhookAttempt, WebhookDelivery

#: The CloudEvent types an endpoint can subscribe to (docs/webhooks.md).
EventType = Literal[
    "ai.bookmarkai.ml.job.done",
    "ai.bookmarkai.ml.job.failed",
    "ai.bookmarkai.ml.job.cancelled",
    "ai.bookmarkai.ml.job.budget_exceeded",
]
#: Documented in the schema; enforced by the SSRF guard at registration (code ``unsafe_url``).
WEBHOOK_URL_PATTERN = (
    r"^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9._~:@!$&'()*+,;=%\[\]-]+([/?#][^\x00]*)?$"
)

_URL_EXAMPLE = "https://app.example.com/hooks/bookmarkai"


class WebhookCreate(BaseModel):
    """A new endpoint: where to POST, and which event types (none listed: all)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": _URL_EXAMPLE,
                    "event_types": ["ai.bookmarkai.ml.job.done", "ai.bookmarkai.ml.job.failed"],
                    "description": "production app",
                }
            ]
        },
    )

    url: str = Field(
        min_length=1,
        max_length=2048,
        description="http(s) URL; it must resolve to public addresses only, unless its host "
        "is in `media.allowed_hosts` (422 `unsafe_url` otherwise).",
        json_schema_extra={"pattern": WEBHOOK_URL_PATTERN},
    )
    event_types: list[EventType] = Field(
        default_factory=list, max_length=4, description="Event types sent; empty = all."
    )
    description: str | None = Field(None, max_length=200, pattern=r"^[^\x00]*$")


class WebhookPublic(BaseModel):
    """An endpoint as stored; the secret is not shown again after creation."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0b6a3f9e-3f0c-4d6e-9a51-7d2f4c1e8b20",
                    "url": _URL_EXAMPLE,
                    "event_types": ["ai.bookmarkai.ml.job.done"],
                    "description": "production app",
                    "enabled": True,
                    "disabled_reason": None,
                    "disabled_at": None,
                    "created_at": "2026-11-30T02:00:00Z",
                }
            ]
        }
    )

    id: UUID
    url: str
    event_types: list[str] = Field(description="Subscribed event types; empty = all.")
    description: str | None = None
    enabled: bool
    disabled_reason: str | None = Field(None, description="Why delivery stopped, if it did.")
    disabled_at: datetime | None = None
    created_at: datetime

    @classmethod
    def of(cls, hook: Webhook) -> WebhookPublic:
        return cls(
            id=hook.id,
            url=hook.url,
            event_types=list(hook.event_types),
            description=hook.description,
            enabled=hook.enabled,
            disabled_reason=hook.disabled_reason,
            disabled_at=hook.disabled_at,
            created_at=hook.created_at,
        )


class WebhookCreated(WebhookPublic):
    """The new endpoint and its signing secret: keep it, it is shown only here."""

    secret: str = Field(
        description="`whsec_` + base64 of 32 random bytes; verify deliveries with it "
        "(Standard Webhooks).",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw1TvSk2nlJuE="],
    )

    model_config = ConfigDict(  # its own example: the inherited one lacks ``secret``
        json_schema_extra={
            "examples": [
                {**example, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw1TvSk2nlJuE="}
                for example in examples_of(WebhookPublic)
            ]
        }
    )

    @classmethod
    def created(cls, hook: Webhook) -> WebhookCreated:
        return cls(**WebhookPublic.of(hook).model_dump(), secret=hook.secret)


class WebhookList(BaseModel):
    webhooks: list[WebhookPublic]

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"webhooks": examples_of(WebhookPublic)}]}
    )


class AttemptPublic(BaseModel):
    """One POST: the answer's status code, or the error when there was none."""

    attempted_at: datetime
    status_code: int | None = None
    error: str | None = None
    duration_ms: int | None = None

    @classmethod
    def of(cls, a: WebhookAttempt) -> AttemptPublic:
        return cls(
            attempted_at=a.attempted_at,
            status_code=a.status_code,
            error=a.error,
            duration_ms=a.duration_ms,
        )


class DeliveryPublic(BaseModel):
    """One event sent (or being sent) to the endpoint, with every attempt, oldest first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 42,
                    "event_id": "7f1c2e4a-5b6d-4e8f-9a0b-1c2d3e4f5a6b",
                    "event_type": "ai.bookmarkai.ml.job.done",
                    "share_id": "article-1",
                    "status": "delivered",
                    "attempts": 2,
                    "next_attempt_at": None,
                    "last_status_code": 200,
                    "last_error": None,
                    "created_at": "2026-11-30T02:00:00Z",
                    "delivered_at": "2026-11-30T02:00:05Z",
                    "attempt_log": [
                        {"attempted_at": "2026-11-30T02:00:00Z", "status_code": 500},
                        {"attempted_at": "2026-11-30T02:00:05Z", "status_code": 200},
                    ],
                }
            ]
        }
    )

    id: int
    event_id: str = Field(description="The CloudEvent id, sent as `webhook-id` on every try.")
    event_type: str
    share_id: str | None = None
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime | None = Field(None, description="When pending: the next try.")
    last_status_code: int | None = None
    last_error: str | None = None
    created_at: datetime
    delivered_at: datetime | None = None
    attempt_log: list[AttemptPublic]

    @classmethod
    def of(cls, d: WebhookDelivery, attempts: list[WebhookAttempt]) -> DeliveryPublic:
        return cls(
            id=d.id,
            event_id=d.event_id,
            event_type=d.event_type,
            share_id=d.share_id,
            status=d.status,  # the column's CHECK holds the three
            attempts=d.attempts,
            next_attempt_at=d.next_attempt_at if d.status == "pending" else None,
            last_status_code=d.last_status_code,
            last_error=d.last_error,
            created_at=d.created_at,
            delivered_at=d.delivered_at,
            attempt_log=[AttemptPublic.of(a) for a in attempts],
        )


class DeliveryLog(BaseModel):
    """Newest first; pass the last ``id`` as ``before`` for the next page."""

    deliveries: list[DeliveryPublic]
    next_before: int | None = Field(None, description="`before` for the next page, if any.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"deliveries": examples_of(DeliveryPublic), "next_before": None}]
        }
    )
