"""Build the product's parts from the settings: storage, the metadata store, Trino's partition
sync. (The engine: :meth:`causality.settings.Settings.open_engine`; the guardrails' policy:
:meth:`~causality.settings.Settings.policy`.)"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
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


KEY_BYTES = 32


def reactor_key(settings: Settings) -> bytes:
    """The 32-byte key that encrypts webhook destinations' secrets: read from
    ``reactor.secret_key_file``, or made there (mode 0600) on first use. Every process that
    signs or manages destinations must read the same file."""
    import base64
    import binascii
    import os
    import secrets

    from causality.errors import ConfigError

    path = settings.reactor_key_file
    hint = (f"the file holds {KEY_BYTES} random bytes in base64 (e.g. `head -c 32 /dev/urandom"
            " | base64`); set reactor.secret_key_file, or remove the file to make a new key"
            " (destinations' secrets must then be rotated)")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        text = base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode() + "\n"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: read theirs
        else:
            with os.fdopen(fd, "w") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
    try:
        key = base64.b64decode(path.read_text().strip(), validate=True)
    except (OSError, ValueError, binascii.Error) as exc:
        raise ConfigError(f"cannot read the reactor key {path}: {exc}", code="bad_reactor_key",
                          hint=hint) from None
    if len(key) != KEY_BYTES:
        raise ConfigError(f"the reactor key {path} holds {len(key)} bytes, not {KEY_BYTES}",
                          code="bad_reactor_key", hint=hint)
    return key


def monitor_tick(settings: Settings, db: SqlEngine) -> Callable[[datetime], int]:
    """Monitors for the reactor: each call evaluates what is due (one reactor process leads,
    by a lease in the metadata store). A notification is recorded in the outbox while the
    runner reports it, before the monitor's state is saved, so none is lost."""
    from metadata import MonitorStore, Outbox
    from pipeline.monitors import MonitorRunner, Transition
    from pipeline.reactor import monitor_draft

    outbox = Outbox(db)
    recorded = [0]

    def notify(transition: Transition) -> None:
        if transition.destination_ids:
            recorded[0] += outbox.record([monitor_draft(transition)]).fired

    runner = MonitorRunner(MonitorStore(db), settings.open_engine(cache=False), notify)

    def tick(now: datetime) -> int:
        recorded[0] = 0
        runner.run_once(now)
        return recorded[0]

    return tick
