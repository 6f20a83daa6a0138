"""Schema migrations on SQLite and PostgreSQL: a new store, stores made before migrations by
``create_all``, a store at an older revision, one a newer release migrated, and several
processes opening one new store at once."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.command import upgrade
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine as SqlEngine

from metadata import KeyStore, MetadataError, open_db, schema_status, upgrade_schema
from metadata._db import meta
from metadata._migrate import _BASELINE, _config

HEAD = "0002_reactions"
SEEDED = {"reaction_rules_version": [(1, 0)], "reactor_lock": [(1, 0)],
          "monitor_lease": [(1, None, 0.0)]}
OPENERS = 4
JOIN_TIMEOUT_S = 120


def differences(engine: SqlEngine) -> list[Any]:
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), meta))


def version(engine: SqlEngine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())


def rows(engine: SqlEngine, table: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.select(meta.tables[table]))]


def put_rows(engine: SqlEngine) -> None:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(meta.tables["api_keys"].insert().values(
            key_id="k1", app_id="shop", key_hash="h" * 64, prefix="ck_live", label="web",
            created_at=at))
        conn.execute(meta.tables["chats"].insert().values(
            chat_id="c1", title="orders", actor="ada", created_at=at, updated_at=at))
        conn.execute(meta.tables["chat_turns"].insert().values(
            chat_id="c1", seq=1, question="how many?", ok=True, audit_ids="", attempts=1, at=at))


def assert_rows_kept(engine: SqlEngine) -> None:
    assert [row[:2] for row in rows(engine, "api_keys")] == [("k1", "shop")]
    assert [row[2:4] for row in rows(engine, "chat_turns")] == [(1, "how many?")]


def test_a_new_store_gets_exactly_the_schema_of_db_py(store_url: str) -> None:
    """The migrations make exactly the tables, columns, indexes, unique constraints and foreign
    keys `metadata/_db.py` declares. This is the guard for the next change: a table or column
    added to `_db.py` without a revision that makes it fails here, in CI."""
    engine = open_db(store_url)
    assert differences(engine) == []
    assert version(engine) == [HEAD]
    for table, seeded in SEEDED.items():
        assert rows(engine, table) == seeded
    engine.dispose()


@pytest.mark.parametrize(("tables", "adopted"), [
    (_BASELINE, "0001_baseline"),
    (frozenset(meta.tables), "0002_reactions"),
], ids=["before-reactions", "with-reactions"])
def test_a_store_made_before_migrations_is_adopted_and_upgraded(
        store_url: str, tables: frozenset[str], adopted: str) -> None:
    old = sa.create_engine(store_url)
    meta.create_all(old, tables=[meta.tables[name] for name in sorted(tables)])
    put_rows(old)
    old.dispose()

    engine = open_db(store_url, upgrade=False)
    seen = schema_status(engine)
    assert (seen.current, seen.legacy) == (None, adopted)
    done = upgrade_schema(engine)
    assert (done.before, done.adopted, done.head) == (None, adopted, HEAD)
    assert done.applied == (() if adopted == HEAD else (HEAD,))
    assert version(engine) == [HEAD]
    assert differences(engine) == []
    assert_rows_kept(engine)
    for table, seeded in SEEDED.items():
        assert rows(engine, table) == seeded  # made once, by create_all or by the revision
    engine.dispose()


def test_a_store_at_the_baseline_revision_is_upgraded_to_head(store_url: str) -> None:
    engine = open_db(store_url, upgrade=False)
    with engine.begin() as conn:
        command.upgrade(_config(conn), "0001_baseline")
    put_rows(engine)
    assert schema_status(engine).pending == (HEAD,)

    assert open_db(store_url).dispose() is None
    assert version(engine) == [HEAD]
    assert differences(engine) == []
    assert_rows_kept(engine)
    assert schema_status(engine).pending == ()
    engine.dispose()


def test_a_store_a_newer_release_migrated_is_refused(store_url: str) -> None:
    open_db(store_url).dispose()
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099_from_the_future'"))
    engine.dispose()
    with pytest.raises(MetadataError) as refused:
        open_db(store_url)
    assert refused.value.code == "metadata_too_new"
    assert refused.value.facts == {"revision": "0099_from_the_future", "head": HEAD}
    assert "upgrade causality" in (refused.value.hint or "")


def test_a_store_matching_no_earlier_schema_is_refused(store_url: str) -> None:
    """A development build's store: the baseline and some of the Reactions tables."""
    old = sa.create_engine(store_url)
    meta.create_all(old, tables=[meta.tables[name] for name in (*_BASELINE, "reaction_rules")])
    old.dispose()
    with pytest.raises(MetadataError) as refused:
        open_db(store_url)
    assert refused.value.code == "metadata_unrecognised"
    assert refused.value.facts == {"missing": [], "extra": ["reaction_rules"]}  # nearest: 0001


def test_a_migration_that_fails_leaves_the_store_as_it_was(
        store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every revision runs in the one transaction that holds the lock, DDL included (SQLite's
    driver would otherwise run it outside any transaction)."""
    def upgrade_then_fail(config: Config, revision: str) -> None:
        upgrade(config, revision)
        raise sa.exc.OperationalError("after the last revision", None, Exception("disk full"))

    monkeypatch.setattr(command, "upgrade", upgrade_then_fail)
    with pytest.raises(MetadataError) as failed:
        open_db(store_url)
    assert failed.value.code == "metadata_unavailable"
    engine = sa.create_engine(store_url)
    assert sa.inspect(engine).get_table_names() == []
    engine.dispose()


def open_when_all_are_ready(url: str, ready: Any) -> None:
    ready.wait(timeout=JOIN_TIMEOUT_S)
    open_db(url).dispose()


def test_processes_opening_a_new_store_at_once_migrate_it_once(store_url: str) -> None:
    spawn = multiprocessing.get_context("spawn")
    ready = spawn.Barrier(OPENERS)
    openers = [spawn.Process(target=open_when_all_are_ready, args=(store_url, ready))
               for _ in range(OPENERS)]
    for opener in openers:
        opener.start()
    for opener in openers:
        opener.join(JOIN_TIMEOUT_S)
    assert [opener.exitcode for opener in openers] == [0] * OPENERS

    engine = sa.create_engine(store_url)
    assert version(engine) == [HEAD]
    assert differences(engine) == []
    for table, seeded in SEEDED.items():
        assert rows(engine, table) == seeded
    engine.dispose()


def test_an_in_memory_store_works_within_its_thread() -> None:
    keys = KeyStore(open_db("sqlite:///:memory:"))
    made, _plain = keys.create("shop", "web")
    assert [key.key_id for key in keys.list("shop")] == [made.key_id]


def test_a_store_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(MetadataError) as refused:
        open_db(f"sqlite:///{tmp_path / 'a-file' / 'meta.db'}")
    assert refused.value.code == "metadata_unavailable"
