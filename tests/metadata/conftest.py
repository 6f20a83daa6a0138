"""Every metadata test runs on SQLite and on a real PostgreSQL (Debian's, on a random port)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine as SqlEngine

from metadata import open_db
from tests.fixtures.postgres import Postgres, postgres

__all__ = ["db", "postgres"]


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlEngine]:
    if request.param == "sqlite":
        engine = open_db(f"sqlite:///{tmp_path / 'meta.db'}")
    else:
        server: Postgres = request.getfixturevalue("postgres")
        engine = open_db(server.url(server.create_database()))
    yield engine
    engine.dispose()
