"""The metadata store's tables, in SQLAlchemy Core over SQLite by default (DESIGN.md decision 10).

A PostgreSQL URL works the same. Tables are created on first open; every later issue adds its
tables here so there is one schema to read.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

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
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def open_db(url: str) -> Engine:
    """Open (and create if needed) the metadata database at ``url``."""
    try:
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, future=True)
        if engine.dialect.name == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_pragmas)
        meta.create_all(engine)
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
