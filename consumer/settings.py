"""The one settings object. Nothing else in the service reads the environment.

Environment prefix ``MOODSTREAM_``, nested with ``__``, for example
``MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS=broker:9092``; ``MOODSTREAM_<NAME>_FILE=/path``
reads a setting from a file instead (a mounted Secret). Every value is validated at
start-up; a bad value stops the process with a message naming the setting.
"""

from __future__ import annotations

import os
import site
import sys
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from consumer.settings_client import KafkaClientSettings
from consumer.settings_env import FILE_SUFFIX, file_values, setting_variables
from consumer.settings_txn import TxnBudget


class _Frozen(BaseModel):
    # No NaN or infinity anywhere: every duration bounds a wait.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


MAX_CONNECT_TIMEOUT_S = 600.0


def check_bootstrap_servers(value: str) -> str:
    """``host:port[,host:port...]`` (an optional ``scheme://``); empty means the local broker.

    Pure. Raises ValueError naming the first bad entry (no host, a port that is not a
    number within 1-65535, an empty entry such as ``,``).
    """
    if not value.strip():
        return value
    for entry in value.split(","):
        address = entry.strip().split("://", 1)[-1]
        host, sep, port = address.rpartition(":")
        if not sep:
            host, port = address, "9092"
        if not host.strip("[]"):
            raise ValueError(f"{entry.strip()!r} has no host: use host:port[,host:port...]")
        if not port.isdigit() or not 1 <= int(port) <= 65_535:
            raise ValueError(f"{entry.strip()!r}: the port must be a number within 1-65535")
    return value


def check_file_exists(value: str | None) -> str | None:
    """A TLS file setting: None, librdkafka's ``probe``, or an existing file. Raises
    ValueError naming the missing file."""
    if value is not None and value != "probe" and not Path(value).is_file():
        raise ValueError(f"no such file: {value}")
    return value


class SecurityProtocol(StrEnum):
    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"


class KafkaSettings(_Frozen):
    """Connection to the cluster. ``bootstrap_servers`` empty means the local dev broker."""

    bootstrap_servers: str = ""
    group_id: str = "moodstream"
    client_id: str = "moodstream"
    #: Exactly-once: this instance's stable name in its transactional ids (the pod's name,
    #: downward API), so a restarted pod fences its predecessor's open transaction at once;
    #: empty: the host name and a fresh random id per start (consumer.kafka.clients).
    instance_id: str = Field(default="", max_length=253, pattern=r"^[A-Za-z0-9._-]*$")
    security_protocol: SecurityProtocol = SecurityProtocol.PLAINTEXT
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: SecretStr | None = None
    ssl_endpoint_identification_algorithm: Literal["https", "none"] = "https"
    group_protocol: Literal["classic", "consumer"] = "classic"
    session_timeout_ms: int = Field(default=10_000, ge=6_000)
    max_poll_interval_ms: int = Field(default=300_000, ge=10_000)
    connect_timeout_s: float = Field(default=20.0, gt=0, le=MAX_CONNECT_TIMEOUT_S)
    #: Timeouts and back-offs set on every client (consumer/settings_client.py).
    client: KafkaClientSettings = KafkaClientSettings()
    extra: dict[str, str] = Field(default_factory=dict, description="raw librdkafka overrides")

    @field_validator("bootstrap_servers")
    @classmethod
    def _bootstrap_format(cls, value: str) -> str:
        return check_bootstrap_servers(value)

    @field_validator("ssl_ca_location", "ssl_certificate_location", "ssl_key_location")
    @classmethod
    def _file_exists(cls, value: str | None) -> str | None:
        return check_file_exists(value)

    @model_validator(mode="after")
    def _sasl_complete(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL") and self.sasl_mechanism is None:
            raise ValueError("KAFKA__SASL_MECHANISM is required with a SASL security protocol")
        return self


TOPIC_ROLES = ("features", "predictions", "alerts", "dlq", "overflow")
#: The windows stage's topics (issue 26): its two inputs and its store's changelog.
WINDOWS_TOPIC_ROLES = ("activity", "day_features", "windows_changelog")


class TopicSettings(_Frozen):
    features: str = "mood.features.v1"
    predictions: str = "mood.predictions.v1"
    alerts: str = "mood.alerts.v1"
    dlq: str = "mood.features.dlq.v1"
    overflow: str = "mood.features.overflow.v1"
    # the windows stage (``run --stage windows``): activity samples and day features in
    # (co-partitioned by user_id), its store's compacted changelog
    activity: str = "mood.activity.v1"
    day_features: str = "mood.day-features.v1"
    windows_changelog: str = "mood.windows-changelog.v1"
    partitions: int = Field(default=6, ge=1)
    # None: min(3, brokers in the cluster) and a min ISR of min(2, replication - 1), at least 1
    replication_factor: int | None = Field(default=None, ge=1)
    min_insync_replicas: int | None = Field(default=None, ge=1)
    # retention.ms of the dead-letter and overflow topics `topics create` makes (and
    # `topics plan` prints): long enough to fix a producer and `dlq redrive` (14 days), or
    # to look into a user over the rate limit (7 days)
    dlq_retention_hours: int = Field(default=336, ge=1)
    overflow_retention_hours: int = Field(default=168, ge=1)

    @model_validator(mode="after")
    def _distinct_names(self) -> TopicSettings:
        seen: dict[str, str] = {}
        for role in TOPIC_ROLES + WINDOWS_TOPIC_ROLES:
            name = getattr(self, role)
            if not name.strip():
                raise ValueError(f"TOPICS__{role.upper()} is empty")
            if name in seen:
                raise ValueError(
                    f"TOPICS__{role.upper()} and TOPICS__{seen[name].upper()} are both {name!r}: "
                    "every topic needs its own name"
                )
            seen[name] = role
        return self

    def all(self) -> tuple[str, ...]:
        return (self.features, self.predictions, self.alerts, self.dlq, self.overflow)

    def every(self) -> tuple[str, ...]:
        """Every topic of both stages: the scoring stage's five, then the windows stage's."""
        return (*self.all(), *self.windows_by_role().values())

    def by_role(self) -> dict[str, str]:
        """Role (``features``, ``predictions``, ...) -> topic name."""
        return {role: getattr(self, role) for role in TOPIC_ROLES}

    def windows_by_role(self) -> dict[str, str]:
        """The windows stage's roles (``activity``, ``day_features``, ``windows_changelog``)
        -> topic name."""
        return {role: getattr(self, role) for role in WINDOWS_TOPIC_ROLES}

    def as_env(self) -> dict[str, str]:
        """Every topic name as ``MOODSTREAM_TOPICS__*`` variables, for a child process."""
        roles = TOPIC_ROLES + WINDOWS_TOPIC_ROLES
        return {f"MOODSTREAM_TOPICS__{name.upper()}": getattr(self, name) for name in roles}


DEMO_MODELS_DIR = Path("models/demo")


def default_models_dir() -> Path:
    """``models/demo`` under the working directory (a clone of the repository), else the
    demo models installed with the package (``<prefix>/share/moodstream/models/demo``,
    for the environment's or the user's prefix), else ``models/demo`` (whose absence
    start-up then reports). Reads the filesystem; raises nothing."""
    if DEMO_MODELS_DIR.is_dir():
        return DEMO_MODELS_DIR
    for prefix in (sys.prefix, getattr(site, "USER_BASE", None)):
        installed = Path(prefix or ".") / "share" / "moodstream" / DEMO_MODELS_DIR
        if prefix and (installed / "manifest.json").is_file():
            return installed
    return DEMO_MODELS_DIR


class ModelSettings(_Frozen):
    """Models directory, thread caps and how PAT runs.

    ``pat_runtime``: ``onnx`` (ONNX Runtime fp32, no torch in the service), ``torch``
    (eager, ``pat_precision`` fp32 or bf16 autocast) or ``auto`` (a start-up calibration
    picks the fastest runtime within ``pat_max_error``; ``pat_precision`` is then the
    lowest precision allowed). ``pat_max_error``: the largest max |Δ probability| against
    torch fp32 accepted for a reduced-precision runtime (at most 0.01). ``pat_device``: see
    below; on a GPU the same rules pick fp32 or bf16 (``cuda-fp32``/``cuda-bf16``).
    """

    dir: Path = Field(default_factory=default_models_dir)
    xgboost_threads: int = Field(default=1, ge=1)
    torch_threads: int = Field(default=1, ge=1)
    pat_sub_batch_size: int = Field(default=1, ge=1)
    pat_runtime: Literal["auto", "torch", "onnx"] = "onnx"
    pat_precision: Literal["fp32", "bf16"] = "fp32"
    pat_max_error: float = Field(default=0.01, gt=0, le=0.01)
    pat_calibration_weeks: int = Field(default=32, ge=4, le=1_000)
    #: Where PAT runs: ``cpu``; ``cuda`` (torch on the GPU, one CUDA context per worker,
    #: start-up fails without a device); ``auto`` (CUDA when a device is visible, else cpu).
    pat_device: Literal["cpu", "cuda", "auto"] = "cpu"
    #: On a GPU: rows per PAT call (gathered across micro-batches) and the longest a row
    #: waits for company before a partial call leaves (``consumer.ensemble.row_batching``).
    pat_device_batch_rows: int = Field(default=256, ge=1, le=4_096)
    pat_device_batch_wait_ms: float = Field(default=5.0, ge=0, le=1_000)
    warmup: bool = True

    @model_validator(mode="after")
    def _runtime_supports_precision(self) -> ModelSettings:
        if self.pat_runtime == "onnx" and self.pat_precision != "fp32":
            raise ValueError(
                "MODELS__PAT_RUNTIME=onnx runs fp32 only; use MODELS__PAT_RUNTIME=torch or "
                "auto with MODELS__PAT_PRECISION=bf16"
            )
        if self.pat_device == "cuda" and self.pat_runtime == "onnx":
            raise ValueError(
                "MODELS__PAT_DEVICE=cuda runs PAT with torch on the GPU (the service's ONNX "
                "Runtime is CPU-only); set MODELS__PAT_RUNTIME=torch, or auto with "
                "MODELS__PAT_PRECISION=bf16 to let start-up pick bf16 where it holds"
            )
        return self


class EnsembleSettings(_Frozen):
    xgboost_timeout_s: float = Field(default=5.0, gt=0)
    pat_timeout_s: float = Field(default=10.0, gt=0)
    slow_budget_s: float = Field(default=1.0, gt=0)
    xgboost_weight: float = Field(default=0.6, ge=0, le=1)
    pat_weight: float = Field(default=0.4, ge=0, le=1)
    #: Fewer non-null features than this: the boosters do not score the event (status
    #: ``insufficient_input``, null scores). XGBoost would score even 36 nulls by following
    #: each split's learned default branch: one constant for everyone, not a prediction.
    min_present_features: int = Field(default=18, ge=1, le=36)
    #: A lane holds at most this fraction of its deadline in estimated work (admission).
    lane_budget_fraction: float = Field(default=0.5, gt=0, le=1)
    #: A model call times out once it runs this many times longer than its estimate (at
    #: least 2 s, at most the model's timeout): a model far slower than its own recent speed.
    slowdown_factor: float = Field(default=10.0, ge=2)
    #: PAT is ``skipped`` (reason ``max_event_age``) for events older than this; None: never.
    pat_max_event_age_s: float | None = Field(default=None, gt=0)
    #: Speed assumed before a lane has measured its model (warm-up replaces it).
    pat_initial_seconds_per_row: float = Field(default=0.1, gt=0)
    xgboost_initial_seconds_per_row: float = Field(default=0.002, gt=0)

    @model_validator(mode="after")
    def _weights_sum_to_one(self) -> EnsembleSettings:
        total = self.xgboost_weight + self.pat_weight
        if abs(total - 1.0) > 1e-9:
            raise ValueError(
                f"ENSEMBLE__XGBOOST_WEIGHT + ENSEMBLE__PAT_WEIGHT must sum to 1, got {total:g}"
            )
        return self


class Guarantee(StrEnum):
    AT_LEAST_ONCE = "at_least_once"
    EXACTLY_ONCE = "exactly_once"


class ProcessingSettings(_Frozen):
    guarantee: Guarantee = Guarantee.AT_LEAST_ONCE
    #: A micro-batch closes at this many events, at ``max_batch_bytes`` of their values,
    #: or ``max_batch_wait_ms`` after its first event. Large batches only form while a
    #: backlog waits (a live stream closes batches on the wait); the byte bound keeps a
    #: batch of week-carrying events (~60 KB each) near 130 events.
    max_batch_size: int = Field(default=2_048, ge=1, le=10_000)
    max_batch_bytes: int = Field(default=8_388_608, ge=1_024)
    max_batch_wait_ms: int = Field(default=20, ge=0, le=60_000)
    #: Events between their poll and their acknowledgement: two batches of 2,048, so the
    #: boosters score one while the loop decodes or publishes the other (a hold ends as
    #: soon as a whole batch fits again). Four (8,192) doubled a backlog's wait since the
    #: poll (~0.7 s: past ``ENSEMBLE__SLOW_BUDGET_S`` on a loaded machine, every event
    #: slow, with its alert) for no more events per second (BENCHMARKS.md, round 7).
    max_inflight_events: int = Field(default=4_096, ge=1)
    #: Activity events held for PAT (waiting for room or running), ~40 KB each as float32.
    max_pending_activity_events: int = Field(default=512, ge=1)
    #: At either bound the loop first stops taking messages (what was fetched stays
    #: fetched); back-pressure lasting this long pauses the partitions (0: at once).
    pause_after_s: float = Field(default=5.0, ge=0, le=60)
    max_message_bytes: int = Field(default=262_144, ge=1_024)
    commit_interval_s: float = Field(default=1.0, gt=0)
    commit_every_messages: int = Field(default=1_000, ge=1)
    shutdown_timeout_s: float = Field(default=30.0, gt=0)
    dlq_max_consecutive: int = Field(default=1_000, ge=1)
    rate_limit_per_minute: int | None = Field(default=None, ge=1)
    workers: int = Field(default=1, ge=1, le=64)
    #: False (tolerant reader): unknown top-level event fields are ignored and counted.
    #: True: an event with one is dead-lettered (``unknown_field``).
    strict_fields: bool = False
    #: ``json``: the service's own JSON. ``avro``/``protobuf``/``json_schema``: records in
    #: the Schema Registry wire format (needs ``SCHEMA_REGISTRY__URL``). ``auto``: a record
    #: starting with the magic byte 0 is registry-framed, anything else plain JSON.
    input_format: Literal["json", "avro", "protobuf", "json_schema", "auto"] = "json"
    #: Predictions, alerts and windowed events: ``json`` (the service's own JSON) or
    #: ``avro``/``protobuf``/``json_schema`` in the Schema Registry wire format, under the
    #: topic's subject (needs ``SCHEMA_REGISTRY__URL``; docs/schema-registry.md).
    output_format: Literal["json", "avro", "protobuf", "json_schema"] = "json"
    #: ``per_key``: a key's predictions, alerts, dead letters and overflow copies leave in
    #: the order its events were read (others never wait for it). ``arrival``: each as
    #: soon as its models answered (a fast event may overtake a slow one of its key).
    output_order: Literal["per_key", "arrival"] = "per_key"
    #: ``string``: record keys are not read. ``avro``/``protobuf``/``json_schema``: keys
    #: in the Schema Registry wire format (needs ``SCHEMA_REGISTRY__URL``) whose field
    #: ``KEY_USER_FIELD`` names the user; the event's ``user_id`` must match it.
    key_format: Literal["string", "avro", "protobuf", "json_schema"] = "string"
    #: The key field that holds the user (RADAR-base's ``ObservationKey``: ``userId``).
    key_user_field: str = Field(default="userId", min_length=1, max_length=128)


class SchemaRegistrySettings(_Frozen):
    """A Confluent-API Schema Registry (``MOODSTREAM_SCHEMA_REGISTRY__*``); empty ``url``:
    none. ``basic_auth_user_info`` is ``user:password`` (never printed)."""

    url: str = ""
    basic_auth_user_info: SecretStr | None = None
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    timeout_s: float = Field(default=5.0, gt=0, le=MAX_CONNECT_TIMEOUT_S)
    #: Waiting for an unreachable registry: first pause, doubling up to the maximum.
    retry_initial_s: float = Field(default=0.5, gt=0)
    retry_max_s: float = Field(default=30.0, gt=0)

    @field_validator("ssl_ca_location", "ssl_certificate_location", "ssl_key_location")
    @classmethod
    def _file_exists(cls, value: str | None) -> str | None:
        return check_file_exists(value)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value


class ObservabilitySettings(_Frozen):
    port: int = Field(default=9400, ge=0, le=65_535)
    host: str = "0.0.0.0"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    user_hash_key: SecretStr = SecretStr("moodstream-dev-key-change-me")


class LocalBrokerSettings(_Frozen):
    """The development broker started by ``moodstream broker start`` (state in
    ``<cache_dir>/broker-<port>``). Its ports lie below Linux's ephemeral range."""

    kafka_version: str = "4.4.0"
    cache_dir: Path = Path.home() / ".cache" / "moodstream"
    port: int = Field(default=29092, ge=1024, le=65_535)
    controller_port: int = Field(default=29093, ge=1024, le=65_535)
    sasl_port: int = Field(default=29094, ge=1024, le=65_535)
    heap: str = "512m"


class LocalClusterSettings(_Frozen):
    """The three-node cluster of ``moodstream broker start --nodes 3`` (state in
    ``<broker.cache_dir>/cluster-<base_port>``). Node n uses ports ``base_port + 10 * (n - 1)``
    + 0 (PLAINTEXT), + 1 (controller), + 2 (SSL), + 3 (SASL_SSL); Toxiproxy the rest."""

    base_port: int = Field(default=29200, ge=1024, le=65_500)
    heap: str = "320m"


class _Environment(EnvSettingsSource):
    """The ``MOODSTREAM_*`` environment less the ``*_FILE`` variables (_FileVariables')."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        files = {(var + FILE_SUFFIX).lower() for var in setting_variables(self.settings_cls)}
        return {k: v for k, v in super()._load_env_vars().items() if k.lower() not in files}


class _FileVariables(EnvSettingsSource):
    """``MOODSTREAM_<NAME>_FILE``: the setting ``MOODSTREAM_<NAME>`` read from that file
    (consumer.settings_env.file_values; raises ConfigError on an unreadable file)."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        values = file_values(self.settings_cls, os.environ)
        return {k if self.case_sensitive else k.lower(): v for k, v in values.items()}


class WindowsSettings(_Frozen):
    """The windows stage (issue 26): weeks of activity assembled from minute samples."""

    #: The zone of a user whose samples carry no ``tz`` (an IANA name).
    default_tz: str = "UTC"
    #: A day's week closes once the user's newest sample is this far past the day's end
    #: (day-sized pollers such as RADAR-base's Fitbit connector skip the last 24 h).
    allowed_lateness_s: float = Field(default=93_600.0, ge=0)
    #: A user who sent nothing for this long (wall clock) has their open days closed.
    idle_close_s: float = Field(default=172_800.0, gt=0)
    #: A week with a smaller fraction of its minutes present is not scored.
    min_coverage: float = Field(default=0.8, ge=0, le=1)
    #: A sample changing a minute of an already-sent week sends a revision; false: counted
    #: as late instead.
    revisions: bool = True
    #: Samples starting further than this past the wall clock are refused (``future``).
    max_future_s: float = Field(default=86_400.0, ge=0)
    #: The activity topic's records: ``samples`` (the samples contract, JSON) or
    #: ``radar_fitbit_intraday_steps`` (RADAR-base's Avro ``FitbitIntradaySteps`` keyed by an
    #: Avro ``ObservationKey``, in the Schema Registry wire format: needs
    #: ``SCHEMA_REGISTRY__URL``; docs/windows.md).
    activity_format: Literal["samples", "radar_fitbit_intraday_steps"] = "samples"
    #: The local state (RocksDB stores, one per assigned partition): its directory.
    state_dir: Path = Path.home() / ".cache" / "moodstream" / "windows-state"
    #: Per worker, all its partitions together: the RocksDB block cache its stores share,
    #: their write buffers (memtables) charged to it, whatever the size of the data and
    #: the number of partitions.
    store_cache_mb: int = Field(default=16, ge=2)
    #: Per worker: the part of ``STORE_CACHE_MB`` the stores' write buffers may take
    #: together (must be below it); beyond it the store being written flushes to disk.
    store_write_buffer_mb: int = Field(default=8, ge=1)
    #: Per assigned partition: the decoded user-days and user records kept in memory
    #: between batches (about 7.5 KB per user-day), least recently used first, so a
    #: worker's memory stays flat whatever the number of users. 0: none (every change is
    #: encoded and written at once). Size it for the users a partition hears from at once
    #: (one-minute records: their current day and record each); beyond it, a record reads
    #: and decodes its day from the store.
    cache_mb: float = Field(default=2.0, ge=0, le=4_096)
    #: A windows micro-batch closes at this many records, at this many bytes of their
    #: values, or ``PROCESSING__MAX_BATCH_WAIT_MS`` after its first record. The changes of
    #: a batch's users are held until its changelog flush, so its bytes stay near the
    #: cache's: 8 MiB batches of day-sized records gave 0.86x the minute values per CPU-s
    #: of 2 MiB ones; 2,048 one-minute records 1.15x the records per CPU-s of 256.
    max_batch_size: int = Field(default=2_048, ge=1, le=10_000)
    max_batch_bytes: int = Field(default=2_097_152, ge=1_024)
    #: The input records librdkafka prefetches for the worker (``queued.max.messages.kbytes``,
    #: for all its partitions; librdkafka's own default is 64 MB): a bound on the memory a
    #: backlog takes. A ``KAFKA__EXTRA`` value of that name wins.
    fetch_queue_mb: int = Field(default=4, ge=1, le=2_048)

    @field_validator("default_tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from schemas.samples import zone

        zone(value)  # raises ValueError("unknown time zone ...")
        return value

    @model_validator(mode="after")
    def _write_buffers_within_the_store(self) -> WindowsSettings:
        if self.store_write_buffer_mb >= self.store_cache_mb:
            raise ValueError(
                f"WINDOWS__STORE_WRITE_BUFFER_MB ({self.store_write_buffer_mb}) must be below "
                f"WINDOWS__STORE_CACHE_MB ({self.store_cache_mb}): the write buffers are "
                "charged to the worker's store memory"
            )
        return self


class LocalRegistrySettings(_Frozen):
    """The development Schema Registry of ``moodstream registry start`` (Apicurio, built
    once under ``<broker.cache_dir>/registry``), on 127.0.0.1:``port`` with in-memory
    storage. ``compatibility`` is its global rule (Apicurio's own default is NONE).
    ``persistent``: schemas kept in an H2 file under its state folder across restarts."""

    port: int = Field(default=28081, ge=1024, le=65_535)
    persistent: bool = False
    apicurio_version: str = "2.0.2.Final"
    heap: str = "256m"
    compatibility: Literal[
        "BACKWARD",
        "BACKWARD_TRANSITIVE",
        "FORWARD",
        "FORWARD_TRANSITIVE",
        "FULL",
        "FULL_TRANSITIVE",
        "NONE",
    ] = "BACKWARD"


class Settings(BaseSettings):
    """All configuration of moodstream, from ``MOODSTREAM_*`` environment variables."""

    model_config = SettingsConfigDict(
        env_prefix="MOODSTREAM_",
        env_nested_delimiter="__",
        frozen=True,
        extra="forbid",
    )

    kafka: KafkaSettings = KafkaSettings()
    topics: TopicSettings = TopicSettings()
    models: ModelSettings = ModelSettings()
    ensemble: EnsembleSettings = EnsembleSettings()
    processing: ProcessingSettings = ProcessingSettings()
    observability: ObservabilitySettings = ObservabilitySettings()
    broker: LocalBrokerSettings = LocalBrokerSettings()
    cluster: LocalClusterSettings = LocalClusterSettings()
    local_registry: LocalRegistrySettings = LocalRegistrySettings()
    schema_registry: SchemaRegistrySettings = SchemaRegistrySettings()
    windows: WindowsSettings = WindowsSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The environment, then ``*_FILE`` variables (never both for one setting)."""
        environment, files = _Environment(settings_cls), _FileVariables(settings_cls)
        return init_settings, environment, files, dotenv_settings, file_secret_settings

    @model_validator(mode="after")
    def _hold_within_poll_interval(self) -> Settings:
        """A hold takes no message for up to ``PROCESSING__PAUSE_AFTER_S``: keep it well
        inside ``max.poll.interval.ms``, or the group would drop the worker."""
        limit_s = self.kafka.max_poll_interval_ms / 1000.0 / 2
        if self.processing.pause_after_s > limit_s:
            raise ValueError(
                f"PROCESSING__PAUSE_AFTER_S={self.processing.pause_after_s:g} must be at most "
                f"half of KAFKA__MAX_POLL_INTERVAL_MS ({limit_s:g} s)"
            )
        return self

    @model_validator(mode="after")
    def _registry_for_format(self) -> Settings:
        fmt = self.processing.input_format
        if fmt != "json" and not self.schema_registry.url:
            raise ValueError(
                f"PROCESSING__INPUT_FORMAT={fmt} reads Schema Registry records: set "
                "MOODSTREAM_SCHEMA_REGISTRY__URL"
            )
        key_format = self.processing.key_format
        if key_format != "string" and not self.schema_registry.url:
            raise ValueError(
                f"PROCESSING__KEY_FORMAT={key_format} reads Schema Registry keys: set "
                "MOODSTREAM_SCHEMA_REGISTRY__URL"
            )
        return self

    @model_validator(mode="after")
    def _registry_for_activity_format(self) -> Settings:
        fmt = self.windows.activity_format
        if fmt != "samples" and not self.schema_registry.url:
            raise ValueError(
                f"WINDOWS__ACTIVITY_FORMAT={fmt} reads Schema Registry records: set "
                "MOODSTREAM_SCHEMA_REGISTRY__URL"
            )
        return self

    @model_validator(mode="after")
    def _registry_for_output_format(self) -> Settings:
        fmt = self.processing.output_format
        if fmt != "json" and not self.schema_registry.url:
            raise ValueError(
                f"PROCESSING__OUTPUT_FORMAT={fmt} writes Schema Registry records: set "
                "MOODSTREAM_SCHEMA_REGISTRY__URL"
            )
        return self

    @model_validator(mode="after")
    def _txn_recovery_fits_poll_interval(self) -> Settings:
        """Exactly-once recovery waits (derived from the connect timeout) must end before
        the group drops a worker that stopped polling (``consumer.settings_txn``)."""
        if self.processing.guarantee is not Guarantee.EXACTLY_ONCE:
            return self
        problem = TxnBudget(self.kafka.connect_timeout_s).problem(self.kafka.max_poll_interval_ms)
        if problem is not None:
            raise ValueError(problem)
        return self
