"""The warehouse room's settings sections: ``[storage]``, ``[query]`` (the engine), ``[trino]``.

Composed into the one settings object by :mod:`causality.settings`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr

from causality.section import Section

if TYPE_CHECKING:
    from warehouse.engines import Engine
    from warehouse.storage import S3Options


class StorageSettings(Section):
    """Where the warehouse lives: a local dir (default) or ``s3://bucket/prefix``."""

    warehouse: str | None = Field(None, description="default: <data_dir>/warehouse")
    s3_endpoint: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None

    def s3_options(self) -> S3Options:
        from warehouse.storage import S3Options

        return S3Options(
            endpoint=self.s3_endpoint, region=self.s3_region,
            access_key=self.s3_access_key.get_secret_value() if self.s3_access_key else None,
            secret_key=self.s3_secret_key.get_secret_value() if self.s3_secret_key else None,
        )


class QuerySettings(Section):
    """The query engine. ``duckdb_memory_limit`` and ``duckdb_cache_mb`` left unset are sized
    from a container memory limit by the composition root (half and a quarter of it, see
    ``causality.container``); these defaults hold without one."""

    engine: Literal["duckdb", "trino"] = "duckdb"
    max_rows: int = Field(10_000, ge=1, le=1_000_000)
    timeout_s: float = Field(60.0, gt=0, le=3600)
    duckdb_memory_limit: str = Field("4GB", pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB)$")
    duckdb_cache_mb: int = Field(
        1024, ge=0, le=1_048_576,
        description="closed days kept in DuckDB's own storage by the workspace, in MB of "
                    "their Parquet (about as much memory); 0 turns the day cache off")


class TrinoSettings(Section):
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


def open_configured_engine(query: QuerySettings, storage: StorageSettings, trino: TrinoSettings,
                           *, warehouse_uri: str, cache: bool = False) -> Engine:
    """The engine ``query.engine`` names, given its settings. ``cache``: a long-running process
    keeps closed days in DuckDB's own storage (``query.duckdb_cache_mb``)."""
    from warehouse.engines import open_engine

    if query.engine == "trino":
        return open_engine("trino", host=trino.host, port=trino.port, user=trino.user,
                           catalog=trino.catalog, schema=trino.schema_,
                           query_max_memory=trino.query_max_memory)
    s3 = storage.s3_options().filesystem() if warehouse_uri.startswith("s3://") else None
    return open_engine("duckdb", warehouse=warehouse_uri, memory_limit=query.duckdb_memory_limit,
                       s3=s3, cache_mb=query.duckdb_cache_mb if cache else 0)
