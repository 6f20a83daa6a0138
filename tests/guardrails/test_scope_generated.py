"""Generated queries that nest scopes cannot leave the tenant, on DuckDB and on Trino.

Each query (see `_scope_grammar`) nests CTEs, subqueries, EXISTS/IN/scalar subqueries,
lateral joins, set operations and recursive CTEs, spells names with quotes and in other
cases, and now and then names an engine object, a file glob or a CTE of another scope. Checked
for a tenant and run by the real engine over several apps' Parquet, it must return exactly
what the same query, checked without a tenant, returns over the tenant's rows alone, or be
refused; a query that reads a name neither visible nor in the catalog must be refused. The
engine's own plan must read nothing but the events table (its view, day cache or files).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings

from guardrails import Policy, Rejected, check
from tests.fixtures.trino import TrinoHandle
from tests.guardrails._scope_grammar import Generated, queries
from warehouse.demo import generate, write
from warehouse.engines import Engine
from warehouse.engines.duckdb_engine import DuckDBEngine
from warehouse.engines.trino_engine import TrinoEngine
from warehouse.schema import TRINO_TYPES

TENANT = "sc-shop"
CATALOG = {"events": dict(TRINO_TYPES)}
SCOPED = Policy(tenant_app_id=TENANT)
UNSCOPED = Policy()
# DuckDB plan operators that read no stored data of their own.
DUCKDB_INTERNAL_SCANS = frozenset({
    "CTE_SCAN", "REC_CTE_SCAN", "DELIM_SCAN", "DUMMY_SCAN", "COLUMN_DATA_SCAN", "CHUNK_SCAN",
    "EXPRESSION_SCAN", "EMPTY_RESULT",
})
DUCKDB_READERS = frozenset({"READ_PARQUET", "UNNEST"})  # the events files; arrays in a row


def _apps() -> pa.Table:
    table = generate(20_000, seed=11, end=date(2026, 11, 8))
    table = table.filter(pc.field("dt") >= "2026-11-06")  # few files: each costs Trino a split
    apps = pc.binary_join_element_wise("sc-", table["app_id"], "")
    return table.set_column(table.schema.get_field_index("app_id"), "app_id", apps)


@pytest.fixture(scope="module")
def apps() -> pa.Table:
    table = _apps()
    assert len(pc.unique(table["app_id"])) >= 2
    return table


@pytest.fixture(scope="module")
def tenant_only(apps: pa.Table) -> Iterator[duckdb.DuckDBPyConnection]:
    """The tenant's rows alone, where the unscoped query gives the expected answer."""
    con = duckdb.connect(":memory:")
    con.register("tenant_rows", apps.filter(pc.field("app_id") == TENANT))
    con.execute("CREATE TABLE events AS SELECT * FROM tenant_rows")
    yield con
    con.close()


@pytest.fixture(scope="module")
def duck(apps: pa.Table, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DuckDBEngine]:
    root = tmp_path_factory.mktemp("scope-warehouse")
    write(apps, root, basename="scope")
    engine = DuckDBEngine(root)
    assert engine.wait_cache(120), "the day cache should load the closed days"
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def trino(apps: pa.Table, trino_server: TrinoHandle) -> TrinoEngine:
    write(apps, trino_server.warehouse, basename="scope")
    trino_server.register()
    return TrinoEngine(trino_server.host, trino_server.port)


def _answer(rows: list[tuple[Any, Any]]) -> list[tuple[Any, int]]:
    return sorted(((v, int(n)) for v, n in rows), key=repr)


def _expected(generated: Generated, tenant_only: duckdb.DuckDBPyConnection
              ) -> list[tuple[Any, int]] | None:
    """The answer over the tenant's rows, or None when the query must be refused."""
    try:
        checked = check(generated.sql, CATALOG, SCOPED)
    except Rejected:
        return None
    assert not generated.must_refuse, f"read a name out of scope:\n{generated.sql}"
    unscoped = check(generated.sql, CATALOG, UNSCOPED)
    assert checked.sql != unscoped.sql
    return _answer(tenant_only.execute(unscoped.duckdb_sql).fetchall())


def _plan_nodes(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, list):
        for item in node:
            yield from _plan_nodes(item)
    elif isinstance(node, dict):
        yield node
        yield from _plan_nodes(node.get("children", []))


def assert_duckdb_reads_only_events(engine: DuckDBEngine, sql: str) -> None:
    cur = engine._cursor()  # the engine's own connection, with its events view bound
    try:
        duck_sql = check(sql, CATALOG, SCOPED).duckdb_sql
        plan = json.loads(cur.execute("EXPLAIN (FORMAT json) " + duck_sql).fetchall()[0][1])
    finally:
        cur.close()
    for node in _plan_nodes(plan):
        name, info = node.get("name", ""), node.get("extra_info") or {}
        if "Function" in info:
            assert info["Function"] in DUCKDB_READERS, (name, sql)
        elif "Table" in info:
            assert info["Table"] == "events", (name, info, sql)  # the day cache
        elif "SCAN" in name:
            assert name in DUCKDB_INTERNAL_SCANS, (name, sql)


def assert_trino_reads_only_events(trino_server: TrinoHandle, sql: str) -> None:
    io = trino_server.query("EXPLAIN (TYPE IO, FORMAT JSON) " + check(sql, CATALOG, SCOPED).sql)
    for entry in json.loads(io[0][0])["inputTableColumnInfos"]:
        table = entry["table"]
        assert (table["catalog"], table["schemaTable"]["schema"], table["schemaTable"]["table"]) \
            == ("lake", "analytics", "events"), (table, sql)


GENERATED = settings(max_examples=150, deadline=None, database=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def glob(duck: DuckDBEngine) -> str:
    return str(Path(duck.warehouse) / "events" / "*" / "*" / "*" / "*.parquet")


def run_generated(engine: Engine, glob: str, tenant_only: duckdb.DuckDBPyConnection,
                  examples: int, reads_only_events: Callable[[str], None]) -> dict[str, int]:
    """Run `examples` generated queries on `engine`; how many ran and how many were refused."""
    seen = {"ran": 0, "refused": 0}

    @settings(GENERATED, max_examples=examples)
    @given(queries(glob))
    def run(generated: Generated) -> None:
        expected = _expected(generated, tenant_only)
        if expected is None:
            seen["refused"] += 1
            return
        result = engine.run(check(generated.sql, CATALOG, SCOPED).sql, 10_000, 120)
        got = _answer([(r["v"], r["n"]) for r in result.table.to_pylist()])
        assert got == expected, generated.sql
        reads_only_events(generated.sql)
        seen["ran"] += 1

    run()
    return seen


def test_generated_queries_stay_in_the_tenant_on_duckdb(
    duck: DuckDBEngine, tenant_only: duckdb.DuckDBPyConnection, glob: str
) -> None:
    seen = run_generated(duck, glob, tenant_only, 150,
                         partial(assert_duckdb_reads_only_events, duck))
    assert seen["ran"] >= 30 and seen["refused"] >= 10, seen


@pytest.mark.trino
def test_generated_queries_stay_in_the_tenant_on_trino(
    trino: TrinoEngine, trino_server: TrinoHandle, tenant_only: duckdb.DuckDBPyConnection
) -> None:
    glob = str(trino_server.warehouse / "events" / "*" / "*" / "*" / "*.parquet")
    seen = run_generated(trino, glob, tenant_only, 60,
                         partial(assert_trino_reads_only_events, trino_server))
    assert seen["ran"] >= 10 and seen["refused"] >= 3, seen


def test_the_attack_of_the_report_is_refused_and_names_nothing_but_events(
    duck: DuckDBEngine, glob: str
) -> None:
    sql = (f'SELECT f.app_id, count(*) FROM "{glob}" AS f, '
           f'(WITH "{glob}" AS (SELECT 1 AS x) SELECT x FROM "{glob}") AS q GROUP BY 1')
    with pytest.raises(Rejected) as info:
        check(sql, CATALOG, SCOPED)
    assert info.value.code == "forbidden_table"
