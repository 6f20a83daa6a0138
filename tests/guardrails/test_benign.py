"""Real analytics queries pass unchanged except for the outermost LIMIT, and run on DuckDB."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from guardrails import Policy, check
from tests.guardrails._cases import CATALOG, TENANT, Case, load, rows, warehouse

BENIGN = load("benign.sql")
MAX_ROWS = Policy().max_rows


def test_the_benign_corpus_is_large() -> None:
    assert len(BENIGN) >= 60
    assert all(case.expect == "pass" for case in BENIGN)


def _without_limit(sql: str) -> tuple[str, exp.Expr | None]:
    tree = sqlglot.parse_one(sql, read="trino")
    limit = tree.args.get("limit")
    tree.set("limit", None)
    return tree.sql(dialect="trino", comments=False), limit


@pytest.mark.parametrize("case", BENIGN, ids=lambda case: case.title)
def test_benign_query_is_unchanged_but_for_the_limit(case: Case) -> None:
    result = check(case.sql, CATALOG, Policy())
    body, limit = _without_limit(result.sql)
    original_body, original_limit = _without_limit(case.sql)
    assert body == original_body
    assert set(result.changes) <= {"limit_injected", "limit_clamped"}
    assert result.warnings == ()
    assert result.tables == {"events"}
    assert result.columns and all(table == "events" for table, _ in result.columns)
    assert limit is not None
    bound = limit.args.get("expression") or limit.args.get("count")
    if original_limit is None:
        assert result.changes == ("limit_injected",)
        assert bound.to_py() == MAX_ROWS
    else:
        original = (
            original_limit.args.get("expression") or original_limit.args.get("count")
        ).to_py()
        assert bound.to_py() == min(original, MAX_ROWS)


@pytest.fixture(scope="module")
def two_tenants():
    con = warehouse()
    yield con
    con.close()


@pytest.fixture(scope="module")
def one_tenant():
    con = warehouse((TENANT,))
    yield con
    con.close()


@pytest.mark.parametrize("case", BENIGN, ids=lambda case: case.title)
def test_benign_query_runs_on_duckdb_and_sees_only_its_tenant(
    case: Case, two_tenants, one_tenant
) -> None:
    everything = rows(two_tenants, check(case.sql, CATALOG, Policy()).duckdb_sql)
    assert len(everything) < MAX_ROWS
    scoped = check(case.sql, CATALOG, Policy(tenant_app_id=TENANT))
    assert "tenant_filter" in scoped.changes
    assert rows(two_tenants, scoped.duckdb_sql) == rows(
        one_tenant, check(case.sql, CATALOG, Policy()).duckdb_sql
    )
