"""Cross-tenant reads are neutralised: run them on two tenants' data and compare with the
same query, checked without a tenant, run on a warehouse holding only the tenant's rows."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest

from guardrails import Policy, Rejected, check
from tests.guardrails._cases import (
    CATALOG,
    RULE_FILES,
    TENANT,
    Case,
    assert_every_scan_is_filtered,
    load,
    rows,
    warehouse,
)

SCOPED = [
    case
    for name in RULE_FILES
    for case in load(name)
    if case.expect == "pass" and case.options.get("tenant") == TENANT
]


@pytest.fixture(scope="module")
def two_tenants() -> Iterator[duckdb.DuckDBPyConnection]:
    con = warehouse()
    yield con
    con.close()


@pytest.fixture(scope="module")
def one_tenant() -> Iterator[duckdb.DuckDBPyConnection]:
    con = warehouse((TENANT,))
    yield con
    con.close()


def test_there_are_cross_tenant_attempts_to_run() -> None:
    assert len(SCOPED) >= 30


@pytest.mark.parametrize("case", SCOPED, ids=lambda case: case.id)
def test_cross_tenant_read_returns_only_tenant_rows(
    case: Case, two_tenants: duckdb.DuckDBPyConnection, one_tenant: duckdb.DuckDBPyConnection
) -> None:
    result = check(case.sql, CATALOG, case.policy())
    assert_every_scan_is_filtered(result.sql, TENANT)
    got = rows(two_tenants, result.duckdb_sql)
    unscoped = check(case.sql, CATALOG, case.policy(tenant_app_id=None))
    expected = rows(one_tenant, unscoped.duckdb_sql)
    assert len(expected) < Policy().max_rows
    assert got == expected
    leaked = [row for row in got if "app_b" in map(str, row)]
    assert not leaked


def test_the_tenant_column_is_never_trusted_from_the_query(
    two_tenants: duckdb.DuckDBPyConnection,
) -> None:
    result = check(
        "SELECT DISTINCT app_id FROM events WHERE app_id = 'app_b' OR app_id = 'app_a'",
        CATALOG,
        Policy(tenant_app_id=TENANT),
    )
    assert rows(two_tenants, result.duckdb_sql) == [(TENANT,)]


def test_a_tenant_id_with_quotes_stays_a_literal(two_tenants: duckdb.DuckDBPyConnection) -> None:
    tenant = "x' OR '1'='1"
    result = check("SELECT count(*) FROM events", CATALOG, Policy(tenant_app_id=tenant))
    assert_every_scan_is_filtered(result.sql, tenant)
    assert rows(two_tenants, result.duckdb_sql) == [(0,)]


def test_tenant_table_without_the_tenant_column_is_refused() -> None:
    catalog = {"events": {"event_id": "varchar"}}
    with pytest.raises(Rejected) as info:
        check("SELECT event_id FROM events", catalog, Policy(tenant_app_id=TENANT))
    assert info.value.code == "tenant_column_missing"
    assert info.value.table == "events"
    # Without a tenant, the same catalog is fine.
    assert check("SELECT event_id FROM events", catalog, Policy()).tables == {"events"}


def test_policy_tenant_tables_and_column_are_honoured() -> None:
    catalog = {"clicks": {"tenant": "varchar", "url": "varchar"}}
    policy = Policy(tenant_app_id="t1", tenant_column="Tenant", tenant_tables=frozenset({"CLICKS"}))
    result = check("SELECT url FROM clicks", catalog, policy)
    assert result.sql == (
        "SELECT url FROM (SELECT * FROM clicks WHERE tenant = 't1') AS clicks LIMIT 10000"
    )
