"""Every metadata test runs on SQLite and on a real PostgreSQL (Debian's, on a random port)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine as SqlEngine

from metadata import open_db
from tests.fixtures.postgres import Postgres, postgres

__all__ = ["db", "postgres", "store_url"]


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a new, empty store: a SQLite file, or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta.db'}"
    server: Postgres = request.getfixturevalue("postgres")
    return server.url(server.create_database())


@pytest.fixture
def db(store_url: str) -> Iterator[SqlEngine]:
    engine = open_db(store_url)
    yield engine
    engine.dispose()
