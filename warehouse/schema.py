"""The ``events`` table: one pyarrow schema, shared by ingest, sink, compactor and engines."""

from __future__ import annotations

import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")

#: Columns stored inside each Parquet file.
FILE_SCHEMA = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("event_type", pa.string(), nullable=False),
        pa.field("category", pa.string(), nullable=False),
        pa.field("user_id", pa.string()),
        pa.field("anonymous_id", pa.string()),
        pa.field("session_id", pa.string()),
        pa.field("event_time", TIMESTAMP, nullable=False),
        pa.field("received_at", TIMESTAMP, nullable=False),
        pa.field("properties", pa.string()),
        pa.field("context", pa.string()),
    ]
)

#: Hive partition columns, taken from the directory names, never stored in the files.
PARTITION_SCHEMA = pa.schema(
    [
        pa.field("app_id", pa.string(), nullable=False),
        pa.field("dt", pa.string(), nullable=False),
        pa.field("hour", pa.string(), nullable=False),
    ]
)

PARTITION_COLUMNS: tuple[str, ...] = tuple(PARTITION_SCHEMA.names)

#: The table as analysts see it.
EVENTS_SCHEMA = pa.schema(list(FILE_SCHEMA) + list(PARTITION_SCHEMA))

#: The same columns as Trino SQL types (the canonical dialect, DESIGN.md decision 3).
TRINO_TYPES: dict[str, str] = {
    "event_id": "varchar",
    "event_type": "varchar",
    "category": "varchar",
    "user_id": "varchar",
    "anonymous_id": "varchar",
    "session_id": "varchar",
    "event_time": "timestamp(6)",
    "received_at": "timestamp(6)",
    "properties": "varchar",
    "context": "varchar",
    "app_id": "varchar",
    "dt": "varchar",
    "hour": "varchar",
}

assert list(TRINO_TYPES) == EVENTS_SCHEMA.names


def rows_to_table(rows: list[dict[str, object]]) -> pa.Table:
    """Rows from :func:`warehouse.segment.segment_to_row` → a table in :data:`FILE_SCHEMA`."""
    return pa.Table.from_pydict(
        {name: [r.get(name) for r in rows] for name in FILE_SCHEMA.names}, schema=FILE_SCHEMA
    )
