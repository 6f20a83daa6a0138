"""`causality metadata status|upgrade` through click against a SQLite store in a temporary data
dir: a new store, one made before migrations, one already at head, one a newer release made."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from metadata._db import meta
from metadata._migrate import _BASELINE
from tests.causality.cli.test_reactions_cli import ISOLATED, ok, refused

HEAD = "0002_reactions"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ISOLATED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CAUSALITY_DATA_DIR", str(tmp_path))
    return tmp_path / "meta.db"


def tables(path: Path) -> set[str]:
    engine = sa.create_engine(f"sqlite:///{path}")
    found = set(sa.inspect(engine).get_table_names())
    engine.dispose()
    return found


def test_status_of_a_new_store_changes_nothing_and_upgrade_applies_every_revision(
        store: Path) -> None:
    assert ok("metadata", "status").stdout == (
        "current: none (a new store)\n"
        f"head:    {HEAD}\n"
        f"pending: 0001_baseline, {HEAD}\n")
    assert tables(store) == set()

    assert ok("metadata", "upgrade").stdout == (
        f"applied 0001_baseline\napplied {HEAD}\nnow at head {HEAD}\n")
    assert json.loads(ok("metadata", "status", "--json").stdout) == {
        "current": HEAD, "head": HEAD, "pending": [], "legacy": None}
    assert ok("metadata", "upgrade").stdout == f"already at head {HEAD}\n"


def test_upgrade_adopts_a_store_made_before_migrations(store: Path) -> None:
    old = sa.create_engine(f"sqlite:///{store}")
    meta.create_all(old, tables=[meta.tables[name] for name in sorted(_BASELINE)])
    old.dispose()

    assert ok("metadata", "status").stdout.splitlines()[::2] == [
        "current: none (made before migrations; its tables match 0001_baseline)",
        f"pending: {HEAD}"]
    assert ok("metadata", "upgrade").stdout == (
        f"adopted a store made before migrations as 0001_baseline\napplied {HEAD}\n"
        f"now at head {HEAD}\n")
    assert tables(store) >= set(meta.tables) | {"alembic_version"}


def test_a_store_a_newer_release_made_is_a_coded_error(store: Path) -> None:
    ok("metadata", "upgrade")
    engine = sa.create_engine(f"sqlite:///{store}")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099_later'"))
    engine.dispose()
    for command in ("status", "upgrade"):
        result = refused("metadata_too_new", "metadata", command)
        assert "hint: a newer causality migrated this store" in result.stderr


def test_help_says_what_each_command_does() -> None:
    assert "upgrading it" in ok("metadata", "--help").stdout
    assert "pending" in ok("metadata", "status", "--help").stdout
    assert "stamped" in ok("metadata", "upgrade", "--help").stdout
