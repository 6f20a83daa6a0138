"""The one typed settings object (DESIGN.md decision 9).

Sources, strongest first: keyword overrides, environment variables ``CAUSALITY_<SECTION>_<NAME>``
(e.g. ``CAUSALITY_NATS_PORT=4222``; top-level ones like ``CAUSALITY_DATA_DIR``), an optional TOML
file (``--config``, sections like ``[nats]``), then the defaults below. Values are validated at
start; a wrong one stops the program with a :class:`~causality.errors.ConfigError` naming the
setting, the value and what is allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from causality.errors import ConfigError

ENV_PREFIX = "CAUSALITY_"
DEFAULT_DATA_DIR = Path(".causality")

Port = int  # documented alias; bounds are given per field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NatsSettings(_Section):
    """The NATS JetStream bus. ``url`` wins over host/port when set."""

    host: str = "127.0.0.1"
    port: int = Field(4222, ge=1, le=65535)
    url: str | None = None
    store_dir: Path | None = Field(None, description="default: <data_dir>/nats")
    # JetStream acknowledges at once and fsyncs on this interval; "always" fsyncs every write.
    sync_interval: str = Field("10s", pattern=r"^(always|\d+(ms|s|m))$")
    # The EVENTS and QUARANTINE streams (pipeline.bus): how long messages are kept, and the
    # window within which a re-sent batch (same Nats-Msg-Id) is stored once.
    retention_s: float = Field(7 * 24 * 3600.0, gt=0, description="stream max age")
    duplicate_window_s: float = Field(600.0, gt=0, le=7 * 24 * 3600.0)

    @property
    def server_url(self) -> str:
        return self.url or f"nats://{self.host}:{self.port}"


class IngestSettings(_Section):
    """The HTTP ingest edge (``causality ingest``), Segment-compatible."""

    host: str = "127.0.0.1"
    port: int = Field(8088, ge=0, le=65535, description="0 picks a free port")
    workers: int = Field(1, ge=1, le=64, description="processes sharing the port (SO_REUSEPORT)")
    max_event_bytes: int = Field(32 * 1024, ge=256, description="one event, as sent")
    max_batch_bytes: int = Field(512 * 1024, ge=1024,
                                 description="one request body, compressed and after inflating")
    # Token bucket per API key, counting events; 0 turns the limit off.
    rate_limit_events_per_s: float = Field(20_000.0, ge=0)
    rate_limit_burst: int = Field(40_000, ge=1)
    publish_timeout_s: float = Field(5.0, gt=0, le=120, description="deadline for the PubAck")
    max_in_flight: int = Field(256, ge=1, description="concurrent JetStream publishes")
    body_timeout_s: float = Field(30.0, gt=0, description="to receive a request body")
    retry_after_s: int = Field(5, ge=1, description="Retry-After sent with 503")
    key_cache_ttl_s: float = Field(5.0, ge=0, description="a revoked key works this long")
    key_negative_ttl_s: float = Field(1.0, ge=0, description="an unknown key is re-checked after")
    # On SIGTERM /readyz answers 503 for drain_delay_s while requests are still served (so a
    # load balancer stops sending), then the listener closes and in-flight requests finish.
    drain_delay_s: float = Field(0.0, ge=0, le=300)
    shutdown_timeout_s: float = Field(20.0, gt=0, description="SIGTERM to exit, at most")
    gc_interval_s: float = Field(
        1.0, gt=0, le=60,
        description="a server process collects cyclic garbage on this timer instead of "
                    "after every 700 allocations (more throughput, steadier p99)")


class StorageSettings(_Section):
    """Where the warehouse lives: a local dir (default) or ``s3://bucket/prefix``."""

    warehouse: str | None = Field(None, description="default: <data_dir>/warehouse")
    s3_endpoint: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None


class CompactorSettings(_Section):
    """Merging closed partitions into large, sorted, de-duplicated files."""

    grace_s: float = Field(3600.0, ge=0,
                           description="a partition is closed this long after its hour")
    target_mb: int = Field(256, ge=1, le=4096)
    interval_s: float = Field(300.0, gt=0)
    http_host: str = "127.0.0.1"
    http_port: int = Field(8090, ge=0, le=65535, description="/livez, /readyz, /metrics; 0 = any")


class SinkSettings(_Section):
    """The sink (``causality sink``): JetStream ``EVENTS`` → Parquet files in the warehouse.

    Every sink process shares the durable pull consumer ``durable``. A flush writes the buffer
    when it holds ``flush_rows`` rows or ``max_buffer_bytes`` bytes (Arrow; the process holds at
    most about twice that: one buffer filling, one being written) or its oldest row is
    ``flush_interval_s`` old, and then ACKs the messages whose files are all written.
    """

    durable: str = Field("sink", pattern=r"^[A-Za-z0-9_-]{1,64}$",
                         description="JetStream consumer shared by all sink processes")
    sink_id: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9-]{0,39}$",
                                description="in file names; default: host name + random")
    fetch_batch: int = Field(256, ge=1, le=4096, description="messages per pull request")
    fetch_timeout_s: float = Field(1.0, gt=0, le=30, description="one pull request waits this")
    flush_interval_s: float = Field(30.0, gt=0, le=3600, description="oldest buffered row, at most")
    flush_rows: int = Field(250_000, ge=1, description="buffered rows that trigger a flush")
    max_buffer_bytes: int = Field(64 * 1024 * 1024, ge=1024 * 1024,
                                  description="buffered Arrow bytes that trigger a flush")
    write_threads: int = Field(2, ge=1, le=32, description="partitions written in parallel")
    flush_timeout_s: float = Field(300.0, gt=0, description="a flush taking longer stops the sink")
    ack_wait_s: float = Field(60.0, gt=0, le=3600,
                              description="redelivery after this without ACK or heartbeat")
    max_ack_pending: int = Field(20_000, ge=1, description="un-ACKed messages, all sinks together")
    max_deliver: int = Field(10, ge=1, le=1000,
                             description="attempts before a message goes to the DLQ stream")
    dedup_window: int = Field(100_000, ge=0,
                              description="recent event ids remembered per app; 0 turns it off")
    lag_poll_s: float = Field(5.0, gt=0, description="consumer info (lag) poll interval")
    max_outage_s: float = Field(120.0, gt=0,
                                description="NATS unreachable this long stops the sink")
    shutdown_timeout_s: float = Field(30.0, gt=0, description="SIGTERM to exit, at most")
    dlq_retention_s: float = Field(30 * 24 * 3600.0, gt=0,
                                   description="dead letters kept this long")
    http_host: str = "127.0.0.1"
    http_port: int = Field(8089, ge=0, le=65535,
                           description="/livez /readyz /metrics; 0 picks a free port")

    @model_validator(mode="after")
    def _consistent(self) -> SinkSettings:
        if self.ack_wait_s <= self.flush_interval_s:
            raise ValueError(f"ack_wait_s ({self.ack_wait_s:g}) must exceed flush_interval_s "
                             f"({self.flush_interval_s:g}) so buffered messages are not "
                             "redelivered while they wait for their flush")
        if self.fetch_batch > self.max_ack_pending:
            raise ValueError(f"fetch_batch ({self.fetch_batch}) must not exceed "
                             f"max_ack_pending ({self.max_ack_pending})")
        return self


class TrinoSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    user: str = "causality_reader"
    catalog: str = "lake"
    schema_: str = Field("analytics", alias="schema")
    cache_dir: Path | None = Field(None, description="default: ~/.cache/causality/trino-476")
    # New partitions become visible to Trino when they are registered in its metastore:
    # `causality trino run` re-syncs every sync_interval_s, and with sync_partitions the
    # compactor does after each run (as admin_user, the only user allowed to CALL).
    admin_user: str = "causality_admin"
    sync_partitions: bool = False
    sync_interval_s: float = Field(30.0, gt=0)
    query_max_memory: str = Field(
        "1GB", pattern=r"^\d+(\.\d+)?(B|kB|MB|GB|TB|PB)$",
        description="memory one query may use across the cluster (Trino's query_max_memory "
                    "and query_max_total_memory); the server's query.max-memory still caps it")


class QuerySettings(_Section):
    engine: Literal["duckdb", "trino"] = "duckdb"
    max_rows: int = Field(10_000, ge=1, le=1_000_000)
    timeout_s: float = Field(60.0, gt=0, le=3600)
    duckdb_memory_limit: str = Field("4GB", pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB)$")
    duckdb_cache_mb: int = Field(
        1024, ge=0, le=1_048_576,
        description="closed days kept in DuckDB's own storage by the workspace, in MB of "
                    "their Parquet (about as much memory); 0 turns the day cache off")


class LLMSettings(_Section):
    """The AI analyst's model (``causality ask``): Anthropic, or any OpenAI-compatible
    endpoint (Ollama, vLLM) through ``openai_base_url``; ``none`` turns the analyst off."""

    provider: Literal["none", "anthropic", "openai"] = "none"
    model: str = "claude-sonnet-5"
    anthropic_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_api_key: SecretStr | None = None
    max_attempts: int = Field(3, ge=1, le=10)
    # Issue 6: the analyst's planner.
    openai_mode: Literal["tools", "json"] = Field(
        "tools", description="json for OpenAI-compatible servers without tool calling")
    max_tokens: int = Field(4096, ge=256, le=64_000, description="per model reply")
    timeout_s: float = Field(120.0, gt=0, le=600, description="one model call, at most")
    sdk_retries: int = Field(2, ge=0, le=10, description="the SDK's retries on 429/5xx")
    validation_retries: int = Field(1, ge=0, le=5,
                                    description="re-asks when a reply is not a valid plan")
    examples: int = Field(3, ge=0, le=10, description="verified queries shown as examples")


class WorkspaceSettings(_Section):
    """The Streamlit workspace (``causality workspace``): where it listens, how long dashboard
    results are cached, embed links, and optional OpenID Connect sign-in."""

    host: str = "127.0.0.1"
    port: int = Field(8501, ge=0, le=65535, description="0 picks a free port")
    public_url: str | None = Field(None, description="base URL in embed links; default "
                                                     "http://<host>:<port>")
    cache_ttl_s: float = Field(300.0, ge=0, le=86_400, description="dashboard tile results")
    max_chart_points: int = Field(1_000, ge=50, le=20_000,
                                  description="longer time series are bucketed in SQL")
    embed_ttl_days: float = Field(30.0, gt=0, le=366, description="default embed link life")
    # Issue 14: signed-in sessions end when idle; failed sign-ins pause a client address too.
    session_idle_timeout_s: float = Field(
        1800.0, ge=60, le=7 * 86_400,
        description="a signed-in person with no click for this long must sign in again")
    signin_failures_per_address: int = Field(
        20, ge=1, le=10_000,
        description="failed sign-ins from one client address (any usernames) that pause it")
    signin_address_window_s: float = Field(600.0, ge=1, le=86_400,
                                           description="the window those failures count in")
    trusted_proxy_hops: int = Field(
        0, ge=0, le=10,
        description="reverse proxies in front of the workspace whose X-Forwarded-For is "
                    "believed; 0 counts the connection's own address")
    # OpenID Connect through st.login; all four set turns it on (local accounts still work).
    oidc_server_metadata_url: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_cookie_secret: SecretStr | None = None

    @property
    def oidc_enabled(self) -> bool:
        return None not in (self.oidc_server_metadata_url, self.oidc_client_id,
                            self.oidc_client_secret, self.oidc_cookie_secret)

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


class Settings(BaseSettings):
    """Every setting of Causality. See ``causality config show`` for the effective values."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="forbid",
        frozen=True,
        populate_by_name=True,
    )

    data_dir: Path = DEFAULT_DATA_DIR
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    metadata_url: str | None = Field(None, description="default: sqlite:///<data_dir>/meta.db")
    nats: NatsSettings = NatsSettings()
    ingest: IngestSettings = IngestSettings()
    storage: StorageSettings = StorageSettings()
    compactor: CompactorSettings = CompactorSettings()
    sink: SinkSettings = SinkSettings()
    trino: TrinoSettings = TrinoSettings()
    query: QuerySettings = QuerySettings()
    llm: LLMSettings = LLMSettings()
    workspace: WorkspaceSettings = WorkspaceSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if settings_cls.model_config.get("toml_file"):
            sources.append(TomlConfigSettingsSource(settings_cls))
        return tuple(sources)

    # Derived locations: one place decides the defaults under data_dir.
    @property
    def warehouse_uri(self) -> str:
        return self.storage.warehouse or str((self.data_dir / "warehouse").resolve())

    @property
    def nats_store_dir(self) -> Path:
        return self.nats.store_dir or self.data_dir / "nats"

    @property
    def metadata_db_url(self) -> str:
        return self.metadata_url or f"sqlite:///{(self.data_dir / 'meta.db').resolve()}"


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build and validate the settings, or raise :class:`ConfigError` saying what to fix."""
    cls: type[Settings] = Settings
    if config_file is not None:
        if not config_file.is_file():
            raise ConfigError(
                f"config file {config_file} does not exist",
                code="config_file_missing",
                hint="pass an existing TOML file to --config, or leave it out",
            )
        cls = type(
            "FileSettings",
            (Settings,),
            {"model_config": SettingsConfigDict(
                **{**Settings.model_config, "toml_file": config_file})},
        )
    try:
        return cls(**overrides)
    except ValidationError as err:
        raise _config_error(err) from None
    except ValueError as err:  # e.g. a TOML syntax error or undecodable env JSON
        raise ConfigError(
            f"cannot read settings: {err}",
            code="config_unreadable",
            hint="check the TOML syntax of --config and the CAUSALITY_* variables",
        ) from None


def _config_error(err: ValidationError) -> ConfigError:
    lines = []
    first: dict[str, Any] = {}
    for problem in err.errors():
        dotted = ".".join(str(p) for p in problem["loc"])
        env = ENV_PREFIX + "_".join(str(p) for p in problem["loc"]).upper().rstrip("_")
        if problem["type"] == "extra_forbidden":
            lines.append(f"unknown setting {dotted} ({env}); remove it or check its spelling")
        else:
            lines.append(
                f"setting {dotted} ({env}) = {problem.get('input')!r} is invalid: "
                f"{problem['msg']}"
            )
        first = first or {"setting": dotted, "env": env}
    return ConfigError(
        "; ".join(lines),
        hint="fix the value in the environment or in the --config file; "
        "`causality config show` prints every setting with its default",
        **first,
    )


def masked(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data, secrets replaced by ``***``."""
    data: dict[str, Any] = settings.model_dump(mode="json", by_alias=True)

    def walk(model: BaseModel, out: dict[str, Any]) -> None:
        for name, field in type(model).model_fields.items():
            key = field.alias or name
            value = getattr(model, name)
            if isinstance(value, SecretStr):
                out[key] = "***"
            elif isinstance(value, BaseModel):
                walk(value, out[key])

    walk(settings, data)
    if data.get("metadata_url"):
        data["metadata_url"] = _mask_url(data["metadata_url"])
    data["derived"] = {
        "warehouse_uri": settings.warehouse_uri,
        "nats_store_dir": str(settings.nats_store_dir),
        "metadata_db_url": _mask_url(settings.metadata_db_url),
    }
    return data


def _mask_url(url: str) -> str:
    """Hide a password inside a database URL (``postgresql://u:secret@h/db``)."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        if ":" in creds:
            return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return url
