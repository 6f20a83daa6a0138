"""The stack is real: the same Parquet files through DuckDB and through Trino 476."""

import threading
import time
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from guardrails import Policy
from guardrails.execute import RateLimiter, execute
from tests.fixtures.trino import TrinoHandle
from tests.warehouse._slow import TRINO_SLOW
from warehouse.demo import generate, write
from warehouse.engines import EngineError, QueryCancelled, QueryTimeout, open_engine
from warehouse.engines.duckdb_engine import DuckDBEngine
from warehouse.engines.trino_engine import TrinoEngine

pytestmark = pytest.mark.trino

SLOW = TRINO_SLOW.format(name="total")


def with_prefix(table: pa.Table, prefix: str) -> pa.Table:
    """Demo data under app ids of this test's own (the Trino warehouse is session-wide)."""
    i = table.schema.get_field_index("app_id")
    apps = pc.binary_join_element_wise(prefix, table["app_id"], "")
    return table.set_column(i, "app_id", apps)


@pytest.fixture(scope="module")
def stack(trino_server: TrinoHandle) -> TrinoHandle:
    table = generate(40_000, seed=21, end=date(2026, 11, 1))
    write(with_prefix(table.filter(pc.field("dt") >= "2026-10-25"), "stk-"), trino_server.warehouse,
          basename="stack")
    trino_server.register()
    return trino_server


@pytest.fixture
def trino_engine(stack: TrinoHandle) -> TrinoEngine:
    return TrinoEngine(stack.host, stack.port)


def test_duckdb_and_trino_agree_per_event_type(stack: TrinoHandle,
                                               trino_engine: TrinoEngine) -> None:
    sql = ("SELECT app_id, event_type, count(*) AS n, count(DISTINCT user_id) AS users, "
           "min(event_time) AS first_seen FROM events WHERE app_id LIKE 'stk-%' "
           "GROUP BY 1, 2 ORDER BY 1, 2")
    duck = DuckDBEngine(stack.warehouse).run(sql, 10_000, 120).table.to_pylist()
    tri = trino_engine.run(sql, 10_000, 120).table.to_pylist()
    assert duck
    assert duck == tri


def test_catalog_from_information_schema(trino_engine: TrinoEngine) -> None:
    info = trino_engine.catalog()
    cols = info.tables["events"]
    assert cols["event_time"] == "timestamp(6)"
    assert cols["app_id"] == "varchar"
    assert "page" in info.samples["events"]["event_type"]


def test_explain_and_row_cap(trino_engine: TrinoEngine) -> None:
    est = trino_engine.explain("SELECT * FROM events WHERE app_id = 'stk-shop'")
    assert est.rows is None or est.rows >= 0
    res = trino_engine.run("SELECT event_id FROM events WHERE app_id LIKE 'stk-%'", 50, 60)
    assert res.table.num_rows == 50
    assert res.truncated


def test_timeout_is_enforced_by_the_server(trino_engine: TrinoEngine) -> None:
    started = time.monotonic()
    with pytest.raises(QueryTimeout):
        trino_engine.run(SLOW, 10, 2)
    assert time.monotonic() - started < 60


def test_cancel_kills_the_query_on_the_server(stack: TrinoHandle,
                                              trino_engine: TrinoEngine) -> None:
    failure: list[BaseException] = []
    thread = threading.Thread(target=lambda: _capture(failure, trino_engine, SLOW))
    thread.start()
    deadline = time.monotonic() + 60
    query_id = None
    while query_id is None and time.monotonic() < deadline:
        running = list(trino_engine._running.values())
        query_id = running[0].cursor.query_id if running else None
        thread.join(0.05)
    assert query_id
    trino_engine.cancel()
    thread.join(60)
    assert not thread.is_alive()
    assert isinstance(failure[0], QueryCancelled)
    state = stack.query(f"SELECT state, error_code FROM system.runtime.queries "
                        f"WHERE query_id = '{query_id}'")
    assert state[0][0] == "FAILED"
    assert state[0][1] == "USER_CANCELED"


def _capture(out: list[BaseException], engine: TrinoEngine, sql: str) -> None:
    try:
        engine.run(sql, 10, 120)
    except BaseException as exc:
        out.append(exc)


@pytest.mark.parametrize("sql", [
    "INSERT INTO events (event_id) VALUES ('x')",
    "CREATE TABLE lake.analytics.evil AS SELECT 1 AS x",
    "DROP TABLE events",
    "SELECT * FROM system.runtime.queries",
    "CALL system.sync_partition_metadata('analytics', 'events', 'FULL')",
])
def test_reader_user_is_read_only_without_guardrails(trino_engine: TrinoEngine, sql: str) -> None:
    with pytest.raises(EngineError):
        trino_engine.run(sql, 10, 60)


def test_opened_by_kind_forked_and_checked_for_its_own_dialect(stack: TrinoHandle) -> None:
    twin = open_engine("trino", host=stack.host, port=stack.port).fork()
    assert twin.dialect == "trino"
    policy = Policy(queries_per_minute=None)  # the default dialect: duckdb

    def run(sql: str) -> int:
        done = execute(sql, engine=twin, policy=policy, actor="test", source="sql",
                       limiter=RateLimiter())
        return int(done.table.column(0)[0].as_py())

    assert run("SELECT count(*) AS n FROM events WHERE app_id LIKE 'stk-%'") > 0
    # Denied on DuckDB only: checked for Trino, it reaches Trino, which has no such function.
    with pytest.raises(EngineError) as err:
        run("SELECT getvariable('x') AS v")
    assert err.value.code == "bad_reference"


def test_unreachable_trino_is_a_clear_error() -> None:
    with pytest.raises(EngineError) as err:
        TrinoEngine("127.0.0.1", 1).run("SELECT 1", 1, 5)
    assert err.value.code == "engine_unavailable"


def test_compactor_makes_new_partitions_visible_to_trino(
    trino_server: TrinoHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from causality.cli import main

    trino_server.register()  # the table exists; the partitions below are new
    table = with_prefix(generate(20_000, seed=8, end=date(2026, 11, 1)), "new-")
    write(table.filter(pc.field("dt") == "2026-10-30"), trino_server.warehouse, basename="late")
    engine = TrinoEngine(trino_server.host, trino_server.port)
    sql = "SELECT count(*) AS n FROM events WHERE app_id LIKE 'new-%'"
    assert engine.run(sql, 1, 60).table.to_pylist() == [{"n": 0}]  # not registered yet
    monkeypatch.setenv("CAUSALITY_STORAGE_WAREHOUSE", str(trino_server.warehouse))
    monkeypatch.setenv("CAUSALITY_TRINO_PORT", str(trino_server.port))
    monkeypatch.setenv("CAUSALITY_TRINO_SYNC_PARTITIONS", "true")
    result = CliRunner().invoke(main, ["compact", "--once"])
    assert result.exit_code == 0, result.output
    expected = table.filter(pc.field("dt") == "2026-10-30").num_rows
    assert engine.run(sql, 1, 60).table.to_pylist() == [{"n": expected}]
