"""The embedded engine over real Parquet files: counts, caps, timeouts, cancel, read-only."""

from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tests.fixtures.s3 import S3Server
from tests.warehouse._slow import SLOW, start_slow_query
from warehouse.demo import generate, write
from warehouse.engines import Engine, EngineError, QueryCancelled, QueryTimeout
from warehouse.engines.duckdb_engine import DuckDBEngine

END = date(2026, 11, 1)


def small_table() -> pa.Table:
    """Three days of demo data: enough rows, few files (each file costs a query time)."""
    return generate(20_000, seed=11, end=END).filter(pc.field("dt") >= "2026-10-29")


@pytest.fixture(scope="module")
def wh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wh")
    write(small_table(), root)
    return root


@pytest.fixture
def engine(wh: Path) -> DuckDBEngine:
    e = DuckDBEngine(wh, memory_limit="1GB")
    yield e
    e.close()


def test_is_an_engine_and_counts_match_the_files(engine: DuckDBEngine) -> None:
    assert isinstance(engine, Engine)
    table = small_table()
    expected = {t: sum(1 for x in table["event_type"].to_pylist() if x == t)
                for t in set(table["event_type"].to_pylist())}
    res = engine.run("select event_type, count(*) as n from events group by 1", 1000, 30)
    assert dict(zip(res.table["event_type"].to_pylist(), res.table["n"].to_pylist(),
                    strict=True)) == expected
    assert not res.truncated


def test_trino_sql_is_transpiled(engine: DuckDBEngine) -> None:
    res = engine.run("""select date_trunc('day', event_time) as d,
        approx_distinct(user_id) as u,
        sum(cast(json_extract_scalar(properties, '$.revenue') as double)) as rev
        from events group by 1 order by 1""", 1000, 30)
    assert res.table.num_rows > 0
    assert str(res.table.schema.field("d").type) == "timestamp[us]"


def test_row_cap_truncates(engine: DuckDBEngine) -> None:
    res = engine.run("select event_id from events", 100, 30)
    assert res.table.num_rows == 100
    assert res.truncated


def test_catalog_has_types_and_samples(engine: DuckDBEngine) -> None:
    info = engine.catalog()
    assert info.tables["events"]["event_time"] == "timestamp(6)"
    assert info.tables["events"]["app_id"] == "varchar"
    assert set(info.samples["events"]["app_id"]) == {"shop", "news", "fitness"}
    assert "page" in info.samples["events"]["event_type"]
    assert "event_id" not in info.samples["events"]


def test_explain_estimates(engine: DuckDBEngine) -> None:
    est = engine.explain("select * from events where app_id = 'shop'")
    assert est.known
    assert est.rows is not None and est.rows > 0
    assert est.bytes is not None and est.bytes > 0
    everything = engine.explain("select * from events")
    assert everything.bytes is not None and everything.bytes > est.bytes


def test_timeout_really_interrupts(engine: DuckDBEngine) -> None:
    with pytest.raises(QueryTimeout) as err:
        engine.run(SLOW, 10, 0.3)
    assert err.value.hint
    assert engine.run("select 1 as x", 10, 5).table.num_rows == 1  # still usable


def test_cancel_from_another_thread(engine: DuckDBEngine) -> None:
    thread, failure = start_slow_query(engine)
    engine.cancel()
    thread.join(30)
    assert not thread.is_alive()
    assert isinstance(failure[0], QueryCancelled)


@pytest.mark.parametrize("sql", [
    "select * from read_csv('/etc/passwd')",
    "copy (select 1) to '/tmp/causality-should-not-exist.csv'",
    "select * from read_parquet('/tmp/../etc/*.parquet')",
    "attach '/tmp/causality-evil.db' as evil",
    "install httpfs",
    "set enable_external_access = true",
])
def test_connection_is_read_only_even_without_guardrails(engine: DuckDBEngine, sql: str) -> None:
    with pytest.raises(EngineError):
        engine.run(sql, 10, 5)
    assert not Path("/tmp/causality-should-not-exist.csv").exists()


def test_empty_warehouse_and_new_files_are_seen(tmp_path: Path) -> None:
    engine = DuckDBEngine(tmp_path)
    assert engine.run("select count(*) as n from events", 10, 5).table["n"][0].as_py() == 0
    write(generate(500, seed=1, end=END).filter(pc.field("dt") == "2026-10-30"), tmp_path)
    assert engine.run("select count(*) as n from events", 10, 5).table["n"][0].as_py() > 0
    engine.close()


def test_s3_warehouse_through_pyarrow_fs(s3_server: S3Server) -> None:
    import pyarrow.dataset as ds

    from warehouse.schema import PARTITION_SCHEMA

    s3 = s3_server.filesystem()
    bucket = s3_server.new_bucket()
    table = generate(3000, seed=2, end=END).filter(ds.field("dt") == "2026-10-30")
    ds.write_dataset(table, f"{bucket}/wh/events", filesystem=s3, format="parquet",
                     partitioning=ds.partitioning(PARTITION_SCHEMA, flavor="hive"))
    engine = DuckDBEngine(f"s3://{bucket}/wh", s3=s3)
    res = engine.run("select count(*) as n from events where app_id = 'shop'", 10, 30)
    assert res.table["n"][0].as_py() == sum(1 for a in table["app_id"].to_pylist() if a == "shop")
    engine.close()


def test_window_over_filtered_groups_sees_only_filtered_rows(engine: DuckDBEngine) -> None:
    """DuckDB 2.0's window_self_join rewrite leaked other apps' rows into this window sum."""
    sql = ("SELECT date_trunc('hour', event_time) AS h, count(*) AS n, "
           "sum(count(*)) OVER (PARTITION BY date_trunc('day', date_trunc('hour', event_time))) "
           "AS day_total FROM (SELECT * FROM events WHERE app_id = 'shop') AS events "
           "GROUP BY 1 ORDER BY 1")
    rows = engine.run(sql, 10_000, 60).table.to_pylist()
    per_day: dict[object, int] = {}
    for r in rows:
        per_day[r["h"].date()] = per_day.get(r["h"].date(), 0) + r["n"]
    assert rows
    assert all(r["day_total"] == per_day[r["h"].date()] for r in rows)
