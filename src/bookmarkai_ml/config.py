"""The one settings object, read once by an entry point and passed explicitly.

Environment variables are prefixed ``BOOKMARKAI_ML_``; nested groups use ``__``
(``BOOKMARKAI_ML_TASKS__TRANSCRIBE__PER_HOUR_USD=2``). A ``.env`` file in the
working directory is read too. Defaults marked (design default) come from the original
design; docs/operations.md, "Defaults from the original design", lists them.
``docs/configuration.md`` is generated from this module (``bookmarkai-ml config-docs``)
and a test keeps the two equal.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bookmarkai_ml.contracts.messages import TaskType
from bookmarkai_ml.contracts.tasks import TASKS
from bookmarkai_ml.errors import ConfigurationError

ENV_PREFIX = "BOOKMARKAI_ML_"

_DEV_SECRET = "dev-only-change-me"  # noqa: S105 - a sentinel that validators refuse outside development


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class BrokerSettings(BaseModel):
    """Producer reliability and TLS."""

    confirm_timeout_s: float = Field(5.0, description="Publisher-confirm timeout (design default).")
    in_flight: int = Field(256, description="Unconfirmed publishes allowed at once.")
    reconnect_initial_s: float = Field(0.5, description="First reconnect delay (design default).")
    reconnect_max_s: float = Field(32.0, description="Reconnect delay ceiling (design default).")
    reconnect_jitter: float = Field(0.3, description="Reconnect jitter fraction (design default).")
    reconnect_max_attempts: int = Field(
        10, description="Attempts before the alert state (design default)."
    )
    breaker_threshold: int = Field(
        10, description="Consecutive failures that open the breaker (design default)."
    )
    breaker_cooldown_s: float = Field(30.0, description="Breaker open time (design default).")
    health_check_interval_s: float = Field(
        30.0, description="Period of the passive-declare health check (design default)."
    )
    delivery_limit: int = Field(5, description="Quorum-queue x-delivery-limit before DLQ.")
    max_message_bytes: int = Field(16 * 1024 * 1024, description="Largest message published.")
    tls_ca_file: Path | None = Field(None, description="CA bundle for amqps peer verification.")
    tls_cert_file: Path | None = Field(None, description="Client certificate for amqps.")
    tls_key_file: Path | None = Field(None, description="Client key for amqps.")
    time_scale: float = Field(
        1.0,
        gt=0,
        le=1,
        description="Test only (refused outside environment=test unless 1): one factor "
        "applied at once to every reliability interval (reconnect delays, breaker cooldown, "
        "health-check period, the outbox's message-level retry backoff and drain deadline), "
        "so a test runs the design's schedule on a faster clock without changing any of its "
        "numbers. The confirm timeout is not scaled: the broker answers at its own speed.",
    )


class WorkerSettings(BaseModel):
    """Celery worker behaviour."""

    prefetch_multiplier: int = Field(
        8, description="Prefetch multiplier, unless a task sets its own (design default)."
    )
    max_tasks_per_child: int = Field(
        50, description="Recycle a child after N tasks unless a task sets its own (design default)."
    )
    consumer_timeout_s: int = Field(1800, description="RabbitMQ consumer_timeout to stay under.")
    lease_s: int = Field(120, description="Job lease; heartbeats extend it while a task runs.")
    max_retries: int = Field(5, description="Retries of a retryable failure before failing.")
    retry_backoff_max_s: int = Field(60, description="Ceiling of the task retry backoff.")
    concurrency: int = Field(2, description="Worker processes (or threads) per worker.")
    pool: str = Field("prefork", description="Celery pool: prefork | threads | solo.")
    plugins: list[str] = Field(
        default_factory=list, description="Modules imported at worker start (handler plugins)."
    )


class OutboxSettings(BaseModel):
    """The outbox relay."""

    batch_size: int = Field(200, description="Rows claimed per relay round.")
    retry_initial_s: float = Field(
        1.0, description="Backoff start between publish attempts (design default)."
    )
    retry_max_s: float = Field(
        10.0, description="Backoff ceiling between publish attempts (design default)."
    )
    max_permanent_attempts: int = Field(
        3, description="Attempts before a permanent failure (design default)."
    )
    poll_interval_s: float = Field(5.0, description="Safety poll when no NOTIFY arrives.")
    run_in_api: bool = Field(True, description="Run a relay inside the API process.")
    maintenance_interval_s: float = Field(
        5.0, description="Relay housekeeping: expired leases, DLQ archive, gauges."
    )
    drain_deadline_s: float = Field(
        30.0,
        gt=0,
        description="Longest a relay round waits for its batch's confirms; the rest stay "
        "unsent for the next round. Claimed rows are leased for twice this.",
    )


class WebhookSettings(BaseModel):
    """Webhook delivery by the relay (docs/webhooks.md)."""

    retry_schedule_s: list[float] = Field(
        [0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0],
        description="Delay of each attempt after the previous one failed; the first (0) is "
        "the immediate attempt. One entry per attempt, then the delivery is failed. Default: "
        "the Standard Webhooks schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: 27.6 h).",
    )
    timeout_s: float = Field(15.0, description="Cap on one delivery attempt, connect to answer.")
    batch_size: int = Field(20, gt=0, description="Deliveries claimed and sent at once.")
    poll_interval_s: float = Field(1.0, gt=0, description="How often due deliveries are sought.")
    disable_after_failures: int = Field(
        5,
        ge=0,
        description="Disable an endpoint after this many consecutive failed deliveries "
        "(every attempt of each failed); 0 = never.",
    )
    disable_after_s: float = Field(
        5 * 86400.0,
        ge=0,
        description="Disable an endpoint that has failed every attempt for this long "
        "(no success since its first failure); 0 = never.",
    )

    @field_validator("retry_schedule_s")
    @classmethod
    def _schedule(cls, value: list[float]) -> list[float]:
        if not value or value[0] != 0 or any(delay < 0 for delay in value):
            raise ValueError("retry_schedule_s: at least one delay, the first 0, none negative")
        return value


class RetentionSettings(BaseModel):
    """What the relay's housekeeping prunes, and after how long (0 = keep forever)."""

    outbox_sent_days: float = Field(
        7.0, ge=0, description="Delete outbox rows this long after they were sent."
    )
    job_payload_days: float = Field(
        30.0,
        ge=0,
        description="Blank the input (text, media URL, options) of jobs this long after they "
        "ended; the job row, its result and its cost stay. Such a job can no longer be retried.",
    )
    dead_letter_days: float = Field(
        30.0, ge=0, description="Delete archived dead letters this long after they died."
    )
    batch_size: int = Field(
        1000, gt=0, description="Rows per statement: each batch is a short transaction of its own."
    )
    max_batches: int = Field(
        20, gt=0, description="Batches per kind per housekeeping round; the rest waits a round."
    )


class MediaSettings(BaseModel):
    """Media intake and audio processing."""

    max_download_bytes: int = Field(500 * 1024 * 1024, description="Download size cap.")
    download_timeout_s: float = Field(120.0, description="Wall-clock cap on a download.")
    max_redirects: int = Field(5, description="Redirects followed, each re-checked.")
    allowed_hosts: list[str] = Field(
        default_factory=list, description="Hosts exempt from the SSRF guard (tests, private use)."
    )
    allow_local_paths: bool = Field(False, description="Accept local file paths as media.")
    max_duration_s: float = Field(
        1800.0, description="Longest media accepted (30 min, design default)."
    )
    chunk_max_s: float = Field(
        600.0, description="Longest transcription chunk (10 min, design default)."
    )
    silence_threshold_db: float = Field(-40.0, description="Silence detection threshold.")
    silence_min_s: float = Field(0.5, description="Shortest silence that counts.")
    ffmpeg_timeout_s: float = Field(600.0, description="Cap on one ffmpeg/ffprobe run.")
    loudness_target_lufs: float = Field(-23.0, description="EBU R128 integrated loudness target.")
    loudness_true_peak_db: float = Field(-1.0, description="True-peak ceiling after the gain.")
    loudness_max_gain_db: float = Field(30.0, description="Largest gain applied to quiet audio.")
    min_speech_s: float = Field(0.5, description="Less non-silent audio than this is 'silent'.")


class StorageSettings(BaseModel):
    """Where downloaded media is kept: a local directory, or S3/MinIO."""

    s3_endpoint_url: str | None = Field(None, description="S3/MinIO endpoint; unset = local dir.")
    s3_bucket: str = Field("bookmarkai-media-development", description="Bucket (design default).")
    s3_access_key: SecretStr | None = Field(None, description="S3 access key id.")
    s3_secret_key: SecretStr | None = Field(None, description="S3 secret access key.")
    s3_region: str = Field("us-east-1", description="S3 region.")


class ModelSettings(BaseModel):
    """Model providers: local by default, OpenAI-compatible APIs when configured."""

    summarizer: str = Field(
        "extractive",
        description="extractive | openai | local_llm (`llm` extra; `llamacpp`: deprecated alias).",
    )
    transcriber: str = Field("local", description="local | openai.")
    embedder: str = Field("onnx", description="onnx | local (torch) | openai | auto.")
    whisper_model: Literal["base", "tiny.en"] = Field(
        "base", description="Bundled Whisper: base (multilingual) | tiny.en (English, faster)."
    )
    whisper_model_path: Path | None = Field(
        None, description="Your own CTranslate2 Whisper dir (not pinned); overrides whisper_model."
    )
    artifacts_dir: Path | None = Field(
        None, description="Where split models are assembled; unset = <venv>/share/bookmarkai-ml."
    )
    whisper_compute_type: str = Field("int8", description="CTranslate2 compute type.")
    whisper_threads: int = Field(0, description="CPU threads for Whisper; 0 = all cores.")
    whisper_beam_size: int = Field(5, description="Whisper beam size (1 = greedy, fastest).")
    whisper_vad: bool = Field(True, description="Silero VAD before Whisper (hallucination guard).")
    whisper_batch_size: int = Field(
        1,
        ge=1,
        description="Speech windows decoded together (faster, worse WER); 1 = one after another.",
    )
    embedding_model_path: Path | None = Field(
        None, description="sentence-transformers model dir; unset = bundled all-MiniLM-L6-v2."
    )
    embedding_batch_size: int = Field(64, description="Texts per embedding batch.")
    onnx_cache_dir: Path | None = Field(None, description="ONNX export cache; unset = data dir.")
    openai_base_url: str = Field("https://api.openai.com/v1", description="OpenAI-compatible URL.")
    openai_api_key: SecretStr | None = Field(None, description="API key for the OpenAI endpoint.")
    chat_model: str = Field("gpt-4o-mini", description="Chat model for summaries.")
    openai_embedding_small: str = Field("text-embedding-3-small", description="Small API model.")
    openai_embedding_large: str = Field("text-embedding-3-large", description="Large API model.")
    large_embedding_min_chars: int = Field(20000, description="auto: content this long -> large.")
    openai_transcription_model: str = Field("whisper-1", description="API transcription model.")
    request_timeout_s: float = Field(60.0, description="HTTP timeout for provider calls.")
    request_max_attempts: int = Field(4, description="Attempts on 429/5xx, honouring Retry-After.")
    gguf_path: Path | None = Field(
        None, description="Your own GGUF for local_llm (not pinned); unset = bundled Qwen2.5 1.5B."
    )
    gguf_threads: int = Field(0, description="CPU threads for local_llm; 0 = all cores.")
    gguf_context_tokens: int = Field(4096, description="local_llm context window in tokens.")
    gguf_chunk_tokens: int = Field(1500, description="local_llm map-reduce: tokens per map chunk.")
    gguf_max_output_tokens: int = Field(400, description="local_llm: most tokens per answer.")
    embedding_threads: int = Field(0, description="CPU threads for local embeddings; 0 = all.")
    onnx_quantize: bool = Field(True, description="onnx: int8 weights where cosine >= 0.99 holds.")
    chunk_max_tokens: int = Field(200, description="Embedding chunk size in model tokens.")
    chunk_overlap_tokens: int = Field(40, description="Tokens of whole sentences chunks share.")
    summary_chunk_tokens: int = Field(3000, description="Chat map-reduce: tokens per map chunk.")
    summary_max_output_tokens: int = Field(600, description="Chat summaries: max_tokens asked.")
    search_ef_search: int = Field(100, description="HNSW candidate list per search (recall).")

    @field_validator("summarizer")
    @classmethod
    def _summarizer_alias(cls, value: str) -> str:
        """``llamacpp`` (the previous release's local summarizer) now means ``local_llm``."""
        if value != "llamacpp":
            return value
        warnings.warn(
            f"{env_name('models', 'summarizer')}=llamacpp is deprecated; use local_llm",
            SettingDeprecationWarning,
            stacklevel=2,
        )
        return "local_llm"


class BudgetSettings(BaseModel):
    """Budget reservations, prices and analytics (spend limits are per task, in `tasks`)."""

    reservation_ttl_s: int = Field(3600, description="A dead worker's reservation expires after.")
    whisper_usd_per_minute: Decimal = Field(
        Decimal("0.006"), description="whisper-1 price (design default)."
    )
    unknown_model_input_usd_per_1m: Decimal = Field(
        Decimal("2.50"), description="Input price of an API model missing from the price table."
    )
    unknown_model_output_usd_per_1m: Decimal = Field(
        Decimal("10.00"), description="Output price of an API model missing from the price table."
    )
    analytics_refresh_s: int = Field(300, description="Materialized-view refresh period.")


class TaskSettings(BaseModel):
    """Per task type: worker tuning, time limit, metrics port and spend limits."""

    prefetch_multiplier: int | None = Field(
        None, description="Prefetch of this task's workers; unset = `worker.prefetch_multiplier`."
    )
    max_tasks_per_child: int | None = Field(
        None, description="Child recycling of this task's workers; unset = the worker's."
    )
    time_limit_s: int = Field(description="Hard time limit; below `worker.consumer_timeout_s`.")
    metrics_port: int = Field(description="Port of this task's worker `/metrics` (design default).")
    per_hour_usd: Decimal = Field(
        Decimal("1"), description="Spend limit per rolling hour (design default)."
    )
    per_day_usd: Decimal = Field(
        Decimal("10"), description="Spend limit per rolling day (design default)."
    )

    @classmethod
    def defaults(cls, task: TaskType) -> TaskSettings:
        """The settings of ``task`` with nothing overridden: its table row's defaults."""
        row = TASKS[task]
        return cls(
            prefetch_multiplier=row.prefetch_multiplier,
            time_limit_s=row.time_limit_s,
            metrics_port=row.metrics_port,
        )


def default_tasks() -> dict[TaskType, TaskSettings]:
    """Every task type with its defaults."""
    return {task: TaskSettings.defaults(task) for task in TaskType}


def _deprecated_names() -> dict[tuple[str, str], tuple[TaskType, str]]:
    """``(group, old flat field) -> (task, TaskSettings field)`` for the names of
    the previous release, accepted until the next one."""
    names: dict[tuple[str, str], tuple[TaskType, str]] = {}
    for task in TaskType:
        for knob in ("prefetch_multiplier", "max_tasks_per_child", "time_limit_s"):
            names["worker", f"{task.value}_{knob}"] = (task, knob)
        names["worker", f"metrics_port_{task.value}"] = (task, "metrics_port")
        for window in ("per_hour_usd", "per_day_usd"):
            names["budgets", f"{task.value}_{window}"] = (task, window)
    return names


#: The flat per-task names of the previous release (deprecated; mapped into ``tasks``).
DEPRECATED_NAMES = _deprecated_names()


def env_name(*path: str) -> str:
    """The environment variable of a settings path: ``("tasks", "embed", "metrics_port")``."""
    return ENV_PREFIX + "__".join(part.upper() for part in path)


class SettingDeprecationWarning(DeprecationWarning):
    """A setting is read under a name that goes away in the next release."""


def _migrate_flat_task_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Move the deprecated flat per-task fields into ``tasks``, warning for each.

    A value given under its new name wins over the old name.
    """
    data = dict(data)
    tasks: dict[Any, Any] = dict(data.get("tasks") or {})
    for (group, old), (task, field) in DEPRECATED_NAMES.items():
        section = data.get(group)
        if not isinstance(section, Mapping) or old not in section:
            continue
        warnings.warn(
            f"{env_name(group, old)} is deprecated; use {env_name('tasks', task, field)}",
            SettingDeprecationWarning,
            stacklevel=2,
        )
        data[group] = {k: v for k, v in section.items() if k != old}
        entry = tasks.get(task, {})
        if isinstance(entry, Mapping):
            tasks[task] = {field: section[old], **entry}
    if tasks:
        data["tasks"] = tasks
    return data


class ApiSettings(BaseModel):
    """The HTTP API."""

    host: str = Field("127.0.0.1", description="Bind address.")
    port: int = Field(8000, description="Bind port.")
    max_body_bytes: int = Field(1024 * 1024, description="Largest request body accepted.")
    rate_limit_per_minute: int = Field(600, description="Default requests per key per minute.")
    rate_limit_burst: int = Field(60, description="Token-bucket burst per key.")
    require_auth: bool = Field(True, description="Require an API key on /api and /v1 routes.")
    max_in_flight: int = Field(
        8,
        gt=0,
        description="Requests to /api and /v1 served at once per API process; the rest wait "
        "(no thread, no database connection held). Keep it below the API's database pool "
        "(15 connections, a few for its relay).",
    )
    in_flight_wait_s: float = Field(
        30.0, gt=0, description="Longest a request waits for a slot before a 503 `overloaded`."
    )


class TelemetrySettings(BaseModel):
    """Metrics and tracing."""

    otlp_endpoint: str | None = Field(
        None,
        description="OTLP/HTTP endpoint (Jaeger, a collector); `/v1/traces` is added to a "
        "bare host. OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT wins when set.",
    )
    traces_exporter: str | None = Field(
        None,
        description="otlp, console or none (comma-separated); unset = otlp when an endpoint "
        "is set. OTEL_TRACES_EXPORTER wins when set.",
    )
    service_name: str = Field(
        "bookmarkai-ml",
        description="OpenTelemetry service.name; each process adds -api, -worker... "
        "OTEL_SERVICE_NAME wins when set.",
    )
    log_level: str = Field(
        "INFO", description="Root log level of every process (a worker's --loglevel wins)."
    )
    log_json: bool = Field(
        False,
        description="One JSON object per log line, with trace_id, span_id, job_id, share_id "
        "and task when known; plain lines otherwise.",
    )


class Settings(BaseSettings):
    """Every setting of the platform. Build it once per process; pass it down."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    environment: Environment = Field(Environment.DEVELOPMENT, description="Deployment kind.")
    data_dir: Path = Field(
        Path.home() / ".local" / "share" / "bookmarkai-ml",
        description="Embedded database, media, model caches.",
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL (postgresql+psycopg://); unset = embedded pgvector."
    )
    broker_url: str | None = Field(
        None, description="amqp:// or amqps:// URL; unset = in-process local broker path."
    )
    secret_key: SecretStr = Field(
        SecretStr(_DEV_SECRET), description="Signs and peppers API-key hashes."
    )
    broker: Annotated[BrokerSettings, Field(default_factory=BrokerSettings)]
    worker: Annotated[WorkerSettings, Field(default_factory=WorkerSettings)]
    outbox: Annotated[OutboxSettings, Field(default_factory=OutboxSettings)]
    webhooks: Annotated[WebhookSettings, Field(default_factory=WebhookSettings)]
    retention: Annotated[RetentionSettings, Field(default_factory=RetentionSettings)]
    media: Annotated[MediaSettings, Field(default_factory=MediaSettings)]
    storage: Annotated[StorageSettings, Field(default_factory=StorageSettings)]
    models: Annotated[ModelSettings, Field(default_factory=ModelSettings)]
    budgets: Annotated[BudgetSettings, Field(default_factory=BudgetSettings)]
    tasks: Annotated[
        dict[TaskType, TaskSettings],
        Field(
            default_factory=default_tasks,
            description="Per task type: worker tuning, time limit, metrics port, spend limits.",
        ),
    ]
    api: Annotated[ApiSettings, Field(default_factory=ApiSettings)]
    telemetry: Annotated[TelemetrySettings, Field(default_factory=TelemetrySettings)]

    @model_validator(mode="before")
    @classmethod
    def _accept_deprecated_names(cls, data: Any) -> Any:
        return _migrate_flat_task_fields(data) if isinstance(data, dict) else data

    @field_validator("tasks", mode="before")
    @classmethod
    def _every_task(cls, value: Any) -> Any:
        """Every task type present; a task given in part keeps its other defaults."""
        if not isinstance(value, Mapping):
            return value
        given = {TaskType(task): settings for task, settings in value.items()}
        filled: dict[TaskType, Any] = {}
        for task in TaskType:
            settings = given.get(task, {})
            if isinstance(settings, Mapping):
                settings = {**TaskSettings.defaults(task).model_dump(), **settings}
            filled[task] = settings
        return filled

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> Settings:
        if self.environment is Environment.PRODUCTION:
            if self.secret_key.get_secret_value() == _DEV_SECRET:
                raise ConfigurationError("set BOOKMARKAI_ML_SECRET_KEY outside development")
            if self.broker_url and "guest:guest@" in self.broker_url:
                raise ConfigurationError("the guest broker account is for development only")
        if self.broker_url and not self.broker_url.startswith(("amqp://", "amqps://")):
            raise ConfigurationError("BOOKMARKAI_ML_BROKER_URL must be amqp:// or amqps://")
        if self.broker.time_scale != 1 and self.environment is not Environment.TEST:
            raise ConfigurationError("broker.time_scale is for tests (environment=test) only")
        return self

    def on_test_clock(self) -> Settings:
        """These settings with ``broker.time_scale`` applied to every interval it covers.

        The relay service builds its producer, broker admin and relay from the result, so
        the configured numbers stay the design's while a test's clock runs faster.
        """
        scale = self.broker.time_scale
        if scale == 1:
            return self
        broker = self.broker.model_copy(
            update={
                "reconnect_initial_s": self.broker.reconnect_initial_s * scale,
                "reconnect_max_s": self.broker.reconnect_max_s * scale,
                "breaker_cooldown_s": self.broker.breaker_cooldown_s * scale,
                "health_check_interval_s": self.broker.health_check_interval_s * scale,
                "time_scale": 1.0,
            }
        )
        outbox = self.outbox.model_copy(
            update={
                "retry_initial_s": self.outbox.retry_initial_s * scale,
                "retry_max_s": self.outbox.retry_max_s * scale,
                # Shorter than one reconnect round at the design clock: scaled with it, so
                # a drain still gives up on a round in flight, as in production.
                "drain_deadline_s": self.outbox.drain_deadline_s * scale,
            }
        )
        return self.model_copy(update={"broker": broker, "outbox": outbox})

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"
