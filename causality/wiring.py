"""Build the product's parts from the settings: storage, engines, metadata store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import Engine as SqlEngine

from causality.settings import Settings
from warehouse.engines import DuckDBEngine, Engine
from warehouse.storage import S3Options, Storage


def s3_options(settings: Settings) -> S3Options:
    st = settings.storage
    return S3Options(
        endpoint=st.s3_endpoint, region=st.s3_region,
        access_key=st.s3_access_key.get_secret_value() if st.s3_access_key else None,
        secret_key=st.s3_secret_key.get_secret_value() if st.s3_secret_key else None,
    )


def storage(settings: Settings) -> Storage:
    return Storage(settings.warehouse_uri, s3_options(settings))


def engine(settings: Settings, cache: bool = False) -> Engine:
    """The configured query engine (DuckDB embedded by default). ``cache``: a long-running
    process keeps closed days in DuckDB's own storage (``query.duckdb_cache_mb``)."""
    if settings.query.engine == "trino":
        from warehouse.engines.trino_engine import TrinoEngine

        t = settings.trino
        trino: Engine = TrinoEngine(host=t.host, port=t.port, user=t.user, catalog=t.catalog,
                                    schema=t.schema_, query_max_memory=t.query_max_memory)
        return trino
    s3 = s3_options(settings).filesystem() if settings.warehouse_uri.startswith("s3://") else None
    return DuckDBEngine(settings.warehouse_uri, memory_limit=settings.query.duckdb_memory_limit,
                        s3=s3, cache_mb=settings.query.duckdb_cache_mb if cache else 0)


def trino_partition_sync(settings: Settings) -> Callable[[], None] | None:
    """Registers new warehouse partitions with Trino (``trino.sync_partitions``), or None."""
    if not settings.trino.sync_partitions or settings.warehouse_uri.startswith("s3://"):
        return None
    from warehouse.trino_register import register_events_table

    t = settings.trino
    return lambda: register_events_table(t.host, t.port, Path(settings.warehouse_uri),
                                         user=t.admin_user)


def metadata(settings: Settings) -> SqlEngine:
    from metadata import open_db

    return open_db(settings.metadata_db_url)
