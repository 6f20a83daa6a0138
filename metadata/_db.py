"""The metadata store's tables, in SQLAlchemy Core over SQLite by default (DESIGN.md decision 10).

A PostgreSQL URL works the same. Every issue adds its tables here so there is one schema to
read, and a revision under ``_migrations/versions`` that makes them in a store opened before
(``tests/metadata/test_migrations.py`` fails while the two differ); opening migrates.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from metadata._migrate import upgrade_schema
from metadata.errors import MetadataError

meta = sa.MetaData()


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """A time stored with its zone and read back as aware UTC, even from SQLite (which keeps
    no zone), so no reader has to patch it."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None,
                             dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

api_keys = sa.Table(
    "api_keys", meta,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("app_id", sa.String(63), nullable=False, index=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("label", sa.String(200), nullable=False, default=""),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("revoked_at", UtcDateTime(), nullable=True),
)

audit_log = sa.Table(
    "audit_log", meta,
    sa.Column("audit_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UtcDateTime(), nullable=False, index=True),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("source", sa.String(20), nullable=False),
    sa.Column("question", sa.Text, nullable=True),
    sa.Column("sql_in", sa.Text, nullable=False),
    sa.Column("sql_run", sa.Text, nullable=True),
    sa.Column("verdict", sa.String(20), nullable=False),
    sa.Column("code", sa.String(64), nullable=True),
    sa.Column("message", sa.Text, nullable=True),
    sa.Column("engine", sa.String(20), nullable=True),
    sa.Column("est_rows", sa.BigInteger, nullable=True),
    sa.Column("est_bytes", sa.BigInteger, nullable=True),
    sa.Column("duration_ms", sa.Float, nullable=True),
    sa.Column("rows", sa.BigInteger, nullable=True),
    sa.Column("flags", sa.Text, nullable=True),
)


def _sqlite_pragmas(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=5000")  # first: WAL needs a lock others may hold
    cur.execute("PRAGMA journal_mode=WAL")
    cur.close()


def open_db(url: str, *, upgrade: bool = True) -> Engine:
    """Open the metadata database at ``url``, creating it or bringing its schema to this
    release's (``upgrade``, the default) when needed; raises ``metadata_too_new`` for a store
    a newer release migrated."""
    try:
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, future=True)
        if engine.dialect.name == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_pragmas)
        if upgrade:
            upgrade_schema(engine)
    except (sa.exc.SQLAlchemyError, OSError) as err:
        raise MetadataError(
            f"cannot open the metadata store {url}: {err}",
            code="metadata_unavailable",
            hint="check metadata_url (CAUSALITY_METADATA_URL) and that its directory is writable",
        ) from None
    return engine


# Issue 6: verified queries (examples for the planner, added only by a person) and chats.
verified_queries = sa.Table(
    "verified_queries", meta,
    sa.Column("verified_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("app_id", sa.String(63), nullable=True, index=True),
    sa.Column("insight", sa.Text, nullable=True),
    sa.Column("sql", sa.Text, nullable=False),
    sa.Column("note", sa.Text, nullable=False, default=""),
    sa.Column("verified_by", sa.String(200), nullable=False),
    sa.Column("verified_at", UtcDateTime(), nullable=False),
)

chats = sa.Table(
    "chats", meta,
    sa.Column("chat_id", sa.String(32), primary_key=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False, index=True),
    sa.Column("app_id", sa.String(63), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False, index=True),
)

chat_turns = sa.Table(
    "chat_turns", meta,
    sa.Column("turn_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("chat_id", sa.String(32), sa.ForeignKey("chats.chat_id"), nullable=False,
              index=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("plan", sa.Text, nullable=True),
    sa.Column("sql", sa.Text, nullable=True),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("error_code", sa.String(64), nullable=True),
    sa.Column("error_message", sa.Text, nullable=True),
    sa.Column("audit_ids", sa.Text, nullable=False, default=""),
    sa.Column("attempts", sa.Integer, nullable=False, default=1),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("chat_id", "seq"),
)


# Issue 8: people, dashboards and their tiles, embed links, and the workspace's own secrets.
users = sa.Table(
    "users", meta,
    sa.Column("username", sa.String(64), primary_key=True),
    sa.Column("password_hash", sa.String(300), nullable=True),  # null: signs in through OIDC
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("app_id", sa.String(63), nullable=True),  # tenant scope; null = every app
    sa.Column("email", sa.String(320), nullable=True, unique=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("disabled_at", UtcDateTime(), nullable=True),
)

dashboards = sa.Table(
    "dashboards", meta,
    sa.Column("dashboard_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("owner", sa.String(64), nullable=False),
    sa.Column("app_id", sa.String(63), nullable=True),  # tenant scope of its tiles
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

tiles = sa.Table(
    "tiles", meta,
    sa.Column("tile_id", sa.String(32), primary_key=True),
    sa.Column("dashboard_id", sa.String(32), sa.ForeignKey("dashboards.dashboard_id"),
              nullable=False, index=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("question", sa.Text, nullable=True),
    sa.Column("sql", sa.Text, nullable=False),
    sa.Column("chart", sa.Text, nullable=True),  # ChartSpec JSON
    sa.Column("insight", sa.Text, nullable=True),  # kind of the typed insight, if any
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

embed_links = sa.Table(
    "embed_links", meta,
    sa.Column("link_id", sa.String(32), primary_key=True),
    sa.Column("dashboard_id", sa.String(32), nullable=False, index=True),
    sa.Column("app_id", sa.String(63), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("revoked_at", UtcDateTime(), nullable=True),
)

secrets_table = sa.Table(
    "secrets", meta,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)


# Issue 14: sliding windows every workspace process shares (query rate, failed sign-ins).
rate_windows = sa.Table(
    "rate_windows", meta,
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("hits", sa.Text, nullable=False),  # JSON list of Unix times, oldest first
    sa.Column("expires_at", sa.Float, nullable=False, index=True),  # Unix time of the last + window
)


# Issue "Reactions": event rules (their JSON, parsed only by `pipeline.reactor`) and webhook
# destinations (signing secrets encrypted under a key the composition root supplies).
reaction_rules = sa.Table(
    "reaction_rules", meta,
    sa.Column("rule_id", sa.String(128), primary_key=True),
    sa.Column("app_id", sa.String(63), nullable=False, index=True),
    sa.Column("json", sa.Text, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False, index=True),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

# One row, bumped in the same transaction as every change to `reaction_rules`: running reactors
# poll it and rebuild their index only when it moved.
reaction_rules_version = sa.Table(
    "reaction_rules_version", meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("version", sa.BigInteger, nullable=False),
)


@sa.event.listens_for(reaction_rules_version, "after_create")
def _seed_rules_version(target: sa.Table, connection: sa.Connection, **_kw: object) -> None:
    connection.execute(target.insert().values(id=1, version=0))


webhook_destinations = sa.Table(
    "webhook_destinations", meta,
    sa.Column("destination_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("url", sa.String(2048), nullable=False),
    sa.Column("secret_ciphertext", sa.Text, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("disabled_at", UtcDateTime(), nullable=True),
)


# Issue "Reactions", the reactor's durable records. A firing (one rule matched one event, or a
# monitor changed state) is written with one outbox row per destination in the same transaction
# as the throttle check, before the event is ACKed; delivery workers claim due outbox rows with a
# lease. Times the workers compare are Unix seconds (floats), cheap to index and compare.
reaction_firings = sa.Table(
    "reaction_firings", meta,
    sa.Column("webhook_id", sa.String(64), primary_key=True),  # stable per (rule, event)
    sa.Column("source", sa.String(16), nullable=False),  # "rule" | "monitor"
    sa.Column("source_id", sa.String(128), nullable=False),
    sa.Column("app_id", sa.String(63), nullable=False, index=True),
    sa.Column("event_id", sa.String(255), nullable=True),  # ingest allows 255 characters
    sa.Column("user_key", sa.String(255), nullable=True),  # throttles per user
    sa.Column("fired_at", sa.Float, nullable=False, index=True),
    sa.Index("ix_reaction_firings_source_time", "source_id", "fired_at"),
    sa.Index("ix_reaction_firings_source_user_time", "source_id", "user_key", "fired_at"),
)

webhook_outbox = sa.Table(
    "webhook_outbox", meta,
    sa.Column("delivery_id", sa.String(64), primary_key=True),  # (webhook_id, destination)
    sa.Column("webhook_id", sa.String(64), nullable=False, index=True),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("source_id", sa.String(128), nullable=False, index=True),
    sa.Column("app_id", sa.String(63), nullable=False),
    sa.Column("destination_id", sa.String(32), nullable=False, index=True),
    sa.Column("payload", sa.Text, nullable=False),  # the JSON body, fixed when fired
    sa.Column("status", sa.String(12), nullable=False),  # pending | delivered | dead
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("fired_at", sa.Float, nullable=False, index=True),
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    sa.Column("lease_until", sa.Float, nullable=True),
    sa.Column("leased_by", sa.String(64), nullable=True),
    sa.Column("last_status", sa.Integer, nullable=True),  # the receiver's last HTTP status
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("done_at", sa.Float, nullable=True),
    sa.Index("ix_webhook_outbox_due", "status", "next_attempt_at"),
)

webhook_attempts = sa.Table(
    "webhook_attempts", meta,
    sa.Column("attempt_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("delivery_id", sa.String(64), nullable=False, index=True),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("at", sa.Float, nullable=False, index=True),
    sa.Column("outcome", sa.String(32), nullable=False),  # delivered | http_status | timeout | …
    sa.Column("http_status", sa.Integer, nullable=True),
    sa.Column("latency_ms", sa.Float, nullable=True),
    sa.Column("response", sa.Text, nullable=True),  # the start of the receiver's answer
)

reaction_dead_letters = sa.Table(
    "reaction_dead_letters", meta,
    sa.Column("dead_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(12), nullable=False),  # "event" | "delivery"
    sa.Column("code", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("app_id", sa.String(63), nullable=True),
    sa.Column("rule_id", sa.String(128), nullable=True),
    sa.Column("delivery_id", sa.String(64), nullable=True, index=True),
    sa.Column("payload", sa.LargeBinary, nullable=False),  # the raw event, or the firing's body
    sa.Column("created_at", sa.Float, nullable=False, index=True),
    sa.Column("replayed_at", sa.Float, nullable=True),
)

# One row every recording transaction updates first: it serialises throttle checks across
# reactor processes (SQLite: the write lock taken at once; PostgreSQL: a row lock).
reactor_lock = sa.Table(
    "reactor_lock", meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("n", sa.BigInteger, nullable=False),
)


@sa.event.listens_for(reactor_lock, "after_create")
def _seed_reactor_lock(target: sa.Table, connection: sa.Connection, **_kw: object) -> None:
    connection.execute(target.insert().values(id=1, n=0))


# Issue "Reactions", monitors (anomaly alerts); tables below are the monitors' own.
# A monitor is stored as its JSON spec, exactly as given; only `pipeline.monitors` parses it.
monitors = sa.Table(
    "monitors", meta,
    sa.Column("monitor_id", sa.String(32), primary_key=True),
    sa.Column("app_id", sa.String(63), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("spec_json", sa.Text, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False, index=True),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

# What the detector remembers between evaluations (its own JSON), and how far it got.
monitor_states = sa.Table(
    "monitor_states", meta,
    sa.Column("monitor_id", sa.String(32), primary_key=True),
    sa.Column("state_json", sa.Text, nullable=False),
    sa.Column("evaluated_until", sa.Float, nullable=True),  # Unix seconds, exclusive
)

# One row per incident: opened when it fires, closed when it resolves.
monitor_alerts = sa.Table(
    "monitor_alerts", meta,
    sa.Column("alert_id", sa.String(64), primary_key=True),
    sa.Column("monitor_id", sa.String(32), nullable=False, index=True),
    sa.Column("app_id", sa.String(63), nullable=False, index=True),
    sa.Column("status", sa.String(12), nullable=False),  # firing | resolved
    sa.Column("direction", sa.String(12), nullable=False),  # spike | drop | no_events
    sa.Column("started_at", sa.Float, nullable=False, index=True),
    sa.Column("resolved_at", sa.Float, nullable=True),
    sa.Column("observed", sa.Float, nullable=False),
    sa.Column("expected", sa.Float, nullable=False),
    sa.Column("detail_json", sa.Text, nullable=False),  # points for the chart
)

# One row: the reactor process that evaluates monitors until `lease_until`.
monitor_lease = sa.Table(
    "monitor_lease", meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("holder", sa.String(64), nullable=True),
    sa.Column("lease_until", sa.Float, nullable=False),
)


@sa.event.listens_for(monitor_lease, "after_create")
def _seed_monitor_lease(target: sa.Table, connection: sa.Connection, **_kw: object) -> None:
    connection.execute(target.insert().values(id=1, holder=None, lease_until=0.0))
