"""Build the product's parts from the settings: storage, the metadata store, Trino's partition
sync. (The engine: :meth:`causality.settings.Settings.open_engine`; the guardrails' policy:
:meth:`~causality.settings.Settings.policy`.)"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import Engine as SqlEngine

from causality.settings import Settings
from warehouse.storage import Storage


def storage(settings: Settings) -> Storage:
    return Storage(settings.warehouse_uri, settings.storage.s3_options())


def trino_partition_sync(settings: Settings) -> Callable[[], None] | None:
    """Registers new warehouse partitions with Trino (``trino.sync_partitions``), or None."""
    if not settings.trino.sync_partitions or settings.warehouse_uri.startswith("s3://"):
        return None
    from warehouse.trino import register_events_table

    t = settings.trino
    return lambda: register_events_table(t.host, t.port, Path(settings.warehouse_uri),
                                         user=t.admin_user)


def metadata(settings: Settings) -> SqlEngine:
    from metadata import open_db

    return open_db(settings.metadata_db_url)
