"""An engine over the hand-built warehouse (`tests.fixtures.warehouse`) and a metadata store;
the hand-written model replies are in `tests.workspace.scripted_model`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine as SqlEngine

from guardrails import Policy
from guardrails.execute import RateLimiter
from metadata.audit import AuditLog
from tests.fixtures.metadata import db
from tests.workspace.events_fixture import TENANT

__all__ = ["db"]  # a fixture for every test here
from warehouse.engines.duckdb_engine import DuckDBEngine


@pytest.fixture(scope="session")
def engine(fixture_warehouse: Path) -> Iterator[DuckDBEngine]:
    e = DuckDBEngine(fixture_warehouse, memory_limit="1GB")
    yield e
    e.close()


@pytest.fixture
def policy() -> Policy:
    return Policy(tenant_app_id=TENANT, queries_per_minute=None)


@pytest.fixture
def unscoped() -> Policy:
    return Policy(queries_per_minute=None)


@pytest.fixture
def limiter() -> RateLimiter:
    return RateLimiter()


@pytest.fixture
def audit(db: SqlEngine) -> AuditLog:
    return AuditLog(db)
