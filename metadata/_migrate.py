"""Brings a metadata store's schema to this release's head with Alembic (the revisions in
``_migrations/versions``, which mirror ``_db.py``), one process at a time.

A store made before migrations existed (``create_all`` of an earlier release) has our tables
but no ``alembic_version``: it is stamped with the revision its tables match, then upgraded.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Engine

from metadata.errors import MetadataError

MIGRATIONS_DIR = Path(__file__).with_name("_migrations")
# Every causality process takes this PostgreSQL advisory lock to migrate ("caus" in ASCII).
ADVISORY_LOCK_KEY = 0x63617573

# The tables `create_all` made before migrations existed, and the revision each set matches,
# newest first. Frozen: a table added later comes with a revision, never here.
_BASELINE = frozenset({
    "api_keys", "audit_log", "verified_queries", "chats", "chat_turns", "users", "dashboards",
    "tiles", "embed_links", "secrets", "rate_windows"})
_REACTIONS = frozenset({
    "reaction_rules", "reaction_rules_version", "webhook_destinations", "reaction_firings",
    "webhook_outbox", "webhook_attempts", "reaction_dead_letters", "reactor_lock", "monitors",
    "monitor_states", "monitor_alerts", "monitor_lease"})
LEGACY_SCHEMAS = (("0002_reactions", _BASELINE | _REACTIONS), ("0001_baseline", _BASELINE))
_LEGACY_TABLES = _BASELINE | _REACTIONS


@dataclass(frozen=True)
class SchemaStatus:
    """Where a store's schema stands against this release's revisions."""

    current: str | None  # None: no alembic_version (an empty store, or one made before them)
    head: str
    pending: tuple[str, ...]  # revisions an upgrade applies, oldest first
    legacy: str | None = None  # the revision a store made before migrations matches


@dataclass(frozen=True)
class SchemaUpgrade:
    """What an upgrade did."""

    before: str | None
    head: str
    adopted: str | None  # a store made before migrations, stamped with this revision first
    applied: tuple[str, ...]  # oldest first; empty when it already was at head


def schema_status(engine: Engine) -> SchemaStatus:
    """The store's revision, this release's head and the revisions an upgrade would apply."""
    with _translated(engine), engine.connect() as conn:
        return _status(conn, _scripts())


def upgrade_schema(engine: Engine) -> SchemaUpgrade:
    """Apply every pending revision, adopting a store made before migrations first. Concurrent
    callers on one store wait for each other; all but the first find nothing left to do."""
    with _translated(engine):
        scripts = _scripts()
        with engine.connect() as conn:
            seen = _status(conn, scripts)
        if not seen.pending and seen.legacy is None:
            return SchemaUpgrade(seen.current, seen.head, None, ())
        with _exclusive(engine) as conn:
            now = _status(conn, scripts)  # again: another process may have migrated meanwhile
            config = _config(conn)
            if now.legacy is not None:
                command.stamp(config, now.legacy)
            if now.pending:
                command.upgrade(config, "head")
        return SchemaUpgrade(now.current, now.head, now.legacy, now.pending)


def _config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


@cache  # read once per process: the revisions ship with the code
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def _status(conn: sa.Connection, scripts: ScriptDirectory) -> SchemaStatus:
    head = scripts.get_current_head()
    assert head is not None, "the migrations have one head"
    current = _current_revision(conn)
    legacy = _legacy_revision(conn) if current is None else None
    start = current or legacy
    known = {script.revision for script in scripts.walk_revisions()}
    if start is not None and start not in known:
        raise MetadataError(
            f"the metadata store is at revision {start}, newer than this release knows "
            f"(its newest is {head})",
            code="metadata_too_new",
            hint="a newer causality migrated this store: upgrade causality to run against it",
            revision=start, head=head)
    pending = [script.revision for script in scripts.iterate_revisions(head, start or "base")]
    return SchemaStatus(current, head, tuple(reversed(pending)), legacy)


def _current_revision(conn: sa.Connection) -> str | None:
    # Read directly: a MigrationContext would log two INFO lines on every open.
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    heads = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    return heads[0] if heads else None  # one row at most: the history has no branches


def _legacy_revision(conn: sa.Connection) -> str | None:
    """The revision whose tables a store without ``alembic_version`` holds; None when it holds
    none of ours (a new store)."""
    ours = set(sa.inspect(conn).get_table_names()) & _LEGACY_TABLES
    if not ours:
        return None
    for revision, tables in LEGACY_SCHEMAS:
        if ours == tables:
            return revision
    nearest = min((tables for _, tables in LEGACY_SCHEMAS), key=lambda t: len(t ^ ours))
    missing, extra = sorted(nearest - ours), sorted(ours - nearest)
    raise MetadataError(
        "the metadata store has tables of an earlier release but matches none of its schemas "
        f"(missing: {', '.join(missing)}; extra: {', '.join(extra) or 'none'})",
        code="metadata_unrecognised",
        hint="it was made by a development build: export what you need and start a new store",
        missing=missing, extra=extra)


@contextmanager
def _exclusive(engine: Engine) -> Iterator[sa.Connection]:
    """A transaction no other process migrates beside, DDL included. PostgreSQL: an advisory
    lock held until it ends. SQLite: the write lock, taken at BEGIN IMMEDIATE on a connection
    whose driver issues no BEGIN or COMMIT of its own (it would run DDL outside the
    transaction); waiting for it is bounded by the connection's busy timeout."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(ADVISORY_LOCK_KEY)))
            yield conn
        return
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


@contextmanager
def _translated(engine: Engine) -> Iterator[None]:
    try:
        yield
    except (sa.exc.SQLAlchemyError, CommandError, OSError) as err:
        url = engine.url.render_as_string(hide_password=True)
        raise MetadataError(
            f"cannot open the metadata store {url}: {err}",
            code="metadata_unavailable",
            hint="check metadata_url (CAUSALITY_METADATA_URL) and that the store is reachable "
                 "and writable") from None
