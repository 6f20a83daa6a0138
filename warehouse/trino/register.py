"""Registering the warehouse's events as ``lake.analytics.events`` on a running Trino, and
syncing its partitions (call again after new partitions land)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from warehouse.layout import EVENTS_DIR
from warehouse.schema import PARTITION_COLUMNS, TRINO_TYPES
from warehouse.trino._errors import TrinoServerError
from warehouse.trino.config import ADMIN_USER, CATALOG, SCHEMA, TABLE, WAREHOUSE_LINK

POLL_S = 0.25  # between checks that the new table can be read

READABLE_TIMEOUT_S = 30.0  # a registered table becomes readable within this after start-up


def events_table_ddl() -> list[str]:
    """The statements that (re)register ``lake.analytics.events``; each one is idempotent."""
    columns = ",\n    ".join(f'"{name}" {sql_type}' for name, sql_type in TRINO_TYPES.items())
    partitions = ", ".join(f"'{name}'" for name in PARTITION_COLUMNS)
    return [
        f"CREATE SCHEMA IF NOT EXISTS {CATALOG}.{SCHEMA}",
        f"CREATE TABLE IF NOT EXISTS {CATALOG}.{SCHEMA}.{TABLE} (\n    {columns}\n) WITH (\n"
        f"    format = 'PARQUET',\n"
        f"    external_location = 'local:///{WAREHOUSE_LINK}/{EVENTS_DIR}',\n"
        f"    partitioned_by = ARRAY[{partitions}]\n)",
        f"CALL {CATALOG}.system.sync_partition_metadata('{SCHEMA}', '{TABLE}', 'FULL')",
    ]


def register_events_table(host: str, port: int, warehouse: Path, *, user: str = ADMIN_USER) -> None:
    """Create ``lake.analytics.events`` if needed, sync its partitions with the warehouse, and
    return once the table can be read."""
    import trino.dbapi

    (Path(warehouse) / EVENTS_DIR).mkdir(parents=True, exist_ok=True)
    conn = trino.dbapi.connect(host=host, port=port, user=user, catalog=CATALOG)
    hint = f"is Trino up at {host}:{port}, and is {user!r} its admin user?"
    try:
        for statement in events_table_ddl():
            _register_step(conn, statement, hint)
        # Until a node that has just started has announced its catalogs, reads of their tables
        # fail with NO_NODES_AVAILABLE (SELECT 1 and metadata answer a moment earlier).
        probe = f"SELECT 1 FROM {CATALOG}.{SCHEMA}.{TABLE} LIMIT 1"
        deadline = time.monotonic() + READABLE_TIMEOUT_S
        while not _register_step(conn, probe, hint, retry_on="NO_NODES_AVAILABLE"
                                 if time.monotonic() < deadline else None):
            time.sleep(POLL_S)
    finally:
        conn.close()


def _register_step(conn: Any, statement: str, hint: str, *, retry_on: str | None = None) -> bool:
    """Run ``statement``; False if it failed with the error named ``retry_on``."""
    import trino.exceptions

    try:
        cursor = conn.cursor()
        cursor.execute(statement)
        cursor.fetchall()
        return True
    except (trino.exceptions.Error, trino.exceptions.HttpError, OSError) as err:
        if retry_on is not None and getattr(err, "error_name", None) == retry_on:
            return False
        raise TrinoServerError(
            f"registering the events table failed: {err}",
            code="trino_register_failed",
            hint=hint,
            statement=statement,
        ) from err
