"""Every metric name the platform exports, in one place.

Dashboards (``deploy/grafana``) and alert rules (``deploy/prometheus``) are tested
against this module: the original design's dashboards broke on names that drifted
(``ml_cost_usd_total`` vs ``ml_cost_dollars_total``; docs/deployment.md, "Dashboards").
Names are given without the ``_total``/``_bucket`` suffixes that prometheus_client adds
on exposition.
"""

from __future__ import annotations

# Producer and outbox (docs/operations.md, "Health and monitoring").
PRODUCER_CONNECTION_STATE = "ml_producer_connection_state"  # 0 down, 1 up, 2 blocked, 3 alert
PRODUCER_PUBLISHES = "ml_producer_publishes"  # counter {queue, outcome}
PRODUCER_PUBLISH_LATENCY = "ml_producer_publish_latency_seconds"  # histogram {queue}
PRODUCER_BREAKER_STATE = "ml_producer_circuit_breaker_state"  # 0 closed, 1 half-open, 2 open
PRODUCER_CONFIRM_TIMEOUTS = "ml_producer_confirm_timeouts"  # counter
PRODUCER_HEALTH_CHECK_FAILURES = "ml_producer_health_check_failures"  # counter
PRODUCER_RECONNECTS = "ml_producer_reconnects"  # counter
OUTBOX_BACKLOG = "ml_outbox_backlog"  # gauge: unsent rows
OUTBOX_OLDEST_AGE = "ml_outbox_oldest_age_seconds"  # gauge

# Workers.
TASKS = "ml_tasks"  # counter {task, outcome}: done|failed|retried|skipped|budget_exceeded|cancelled
TASK_DURATION = "ml_task_duration_seconds"  # histogram {task}
COST = "ml_cost_dollars"  # counter {task, provider, model}  (design default name)
QUEUE_DEPTH = "ml_queue_depth"  # gauge {queue}
QUEUE_LAG = "ml_queue_lag_seconds"  # histogram {queue}: publish -> start
AUDIO_MINUTES = "ml_transcription_audio_minutes"  # counter {provider}
TRANSCRIBE_CHUNKS = "ml_transcription_chunks"  # counter
EMBED_CHUNKS = "ml_embedding_chunks"  # counter {model}
TOKENS = "ml_tokens"  # counter {task, model, direction}: input|output
BUDGET_REJECTIONS = "ml_budget_rejections"  # counter {task}
# Added for the DLQ-growth alert and dashboard (deploy/): the relay archives DLQ
# messages into ml_dead_letters, so DLQ depth stays near 0 and cannot show growth.
DEAD_LETTERS = "ml_dead_letters"  # counter {queue}: dead letters archived, by DLQ name

# Webhooks (docs/webhooks.md): the deliverer in the relay's process.
WEBHOOK_ATTEMPTS = "ml_webhook_attempts"  # counter {outcome}: success|failure
WEBHOOK_ATTEMPT_DURATION = "ml_webhook_attempt_duration_seconds"  # histogram
WEBHOOK_DELIVERIES = "ml_webhook_deliveries"  # counter {outcome}: delivered|failed (final)
WEBHOOK_DISABLED = "ml_webhook_endpoints_disabled"  # counter: endpoints disabled for failing

# API.
HTTP_REQUESTS = "ml_http_requests"  # counter {route, method, status}
HTTP_LATENCY = "ml_http_request_duration_seconds"  # histogram {route, method}
