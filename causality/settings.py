"""The one typed settings object (DESIGN.md decision 9).

Each room owns its sections (``pipeline.config``, ``warehouse.config``, ``guardrails.config``,
``workspace.config``); this module composes them, and only the composition root imports it.

Sources, strongest first: keyword overrides, environment variables ``CAUSALITY_<SECTION>_<NAME>``
(e.g. ``CAUSALITY_NATS_PORT=4222``; top-level ones like ``CAUSALITY_DATA_DIR``), an optional TOML
file (``--config``, sections like ``[nats]``), then the defaults below. Values are validated at
start; a wrong one stops the program with a :class:`~causality.errors.ConfigError` naming the
setting, the value and what is allowed.

:func:`load_settings` then sizes a few settings from the container's memory limit when they were
not set (:mod:`causality.container`); ``Settings(...)`` built directly is not sized.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, PrivateAttr, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from causality.container import Sizing, memory_limit, sizing
from causality.errors import ConfigError
from guardrails.config import GuardrailsSettings
from pipeline.config import (
    CompactorSettings,
    IngestSettings,
    NatsSettings,
    ReactorSettings,
    SinkSettings,
)
from warehouse.config import (
    QuerySettings,
    StorageSettings,
    TrinoSettings,
    open_configured_engine,
)
from workspace.config import LLMSettings, WorkspaceSettings

if TYPE_CHECKING:
    from guardrails import Policy
    from warehouse.engines import Engine

__all__ = [
    "CompactorSettings", "GuardrailsSettings", "IngestSettings", "LLMSettings", "NatsSettings",
    "QuerySettings", "ReactorSettings", "Settings", "SinkSettings", "StorageSettings",
    "TrinoSettings", "WorkspaceSettings", "load_settings", "masked",
]

ENV_PREFIX = "CAUSALITY_"
DEFAULT_DATA_DIR = Path(".causality")


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
    reactor: ReactorSettings = ReactorSettings()
    trino: TrinoSettings = TrinoSettings()
    query: QuerySettings = QuerySettings()
    llm: LLMSettings = LLMSettings()
    workspace: WorkspaceSettings = WorkspaceSettings()
    guardrails: GuardrailsSettings = GuardrailsSettings()
    _sizing: Sizing | None = PrivateAttr(None)

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

    @property
    def reactor_key_file(self) -> Path:
        return self.reactor.secret_key_file or self.data_dir / "reactor.key"

    @property
    def sizing(self) -> Sizing | None:
        """What was sized from the container and from what (None: not sized, built directly)."""
        return self._sizing

    def policy(self, tenant_app_id: str | None = None) -> Policy:
        """The guardrails' policy for a query (filtered to ``tenant_app_id`` when given)."""
        return self.guardrails.policy(max_rows=self.query.max_rows,
                                      timeout_s=self.query.timeout_s,
                                      tenant_app_id=tenant_app_id)

    def open_engine(self, *, cache: bool = False) -> Engine:
        """The configured query engine; ``cache``: a long-running process keeps closed days
        in DuckDB's own storage (``query.duckdb_cache_mb``)."""
        return open_configured_engine(self.query, self.storage, self.trino,
                                      warehouse_uri=self.warehouse_uri, cache=cache)


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
        return _sized(cls(**overrides))
    except ValidationError as err:
        raise _config_error(err) from None
    except ValueError as err:  # e.g. a TOML syntax error or undecodable env JSON
        raise ConfigError(
            f"cannot read settings: {err}",
            code="config_unreadable",
            hint="check the TOML syntax of --config and the CAUSALITY_* variables",
        ) from None


def _sized(settings: Settings) -> Settings:
    """``settings`` with the settings left unset sized from the container's memory limit
    (:mod:`causality.container`; ``CAUSALITY_CGROUP_ROOT`` points at another cgroup mount)."""
    plan = sizing(settings.query, settings.sink, memory_limit())
    changes: dict[str, dict[str, Any]] = {}
    for item in plan.settings:
        if item.derived:
            changes.setdefault(item.section, {})[item.name] = item.value
    sections = {}
    for name, values in changes.items():
        section: BaseModel = getattr(settings, name)
        explicit = {key: getattr(section, key) for key in section.model_fields_set}
        sections[name] = type(section)(**explicit, **values)
    out = settings.model_copy(update=sections)
    out._sizing = plan
    return out


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
    if settings.sizing is not None:
        data["sizing"] = settings.sizing.as_dict()
    return data


def _mask_url(url: str) -> str:
    """Hide a password inside a database URL (``postgresql://u:secret@h/db``)."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        if ":" in creds:
            return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return url
