"""DuckDB's day cache: closed days from its own table, the rest from Parquet, never twice."""

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from pipeline.compactor import CompactionPolicy, run_once
from tests.warehouse._slow import start_slow_query
from warehouse.demo import generate, write
from warehouse.engines import EngineError, QueryCancelled
from warehouse.engines.duckdb_cache import CACHE_TABLE, DayCache, files_outside, inventory
from warehouse.engines.duckdb_engine import DuckDBEngine, _view_columns
from warehouse.layout import Partition
from warehouse.schema import EVENTS_SCHEMA, FILE_SCHEMA
from warehouse.storage import Storage

END = date(2026, 11, 1)
DAYS = ("2026-10-29", "2026-10-30", "2026-10-31")
QUERIES = [
    "select app_id, dt, count(*) as n from events group by 1, 2 order by 1, 2",
    "select count(distinct user_id) as u, min(event_time) as a, max(event_time) as b "
    "from events",
    "select event_type, count(*) as n from events where dt >= '2026-10-30' "
    "group by 1 order by 1",
    "select hour, count(*) as n from events where app_id = 'shop' group by 1 order by 1",
]


def three_days() -> pa.Table:
    return generate(6_000, seed=5, end=END).filter(pc.field("dt") >= DAYS[0])


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wh")
    write(three_days(), root)
    return root


@pytest.fixture
def wh(source: Path, tmp_path: Path) -> Path:
    root = tmp_path / "wh"
    shutil.copytree(source, root)
    return root


def answers(engine: DuckDBEngine) -> list[list[dict[str, object]]]:
    return [engine.run(q, 1000, 30).table.to_pylist() for q in QUERIES]


def count(engine: DuckDBEngine) -> int:
    return int(engine.run("select count(*) as n from events", 10, 30).table["n"][0].as_py())


@pytest.fixture
def cached(wh: Path) -> DuckDBEngine:
    engine = DuckDBEngine(wh, memory_limit="1GB", cache_mb=64)
    assert engine.wait_cache(60)
    yield engine
    engine.close()


def test_cached_days_answer_as_the_files_do(wh: Path, cached: DuckDBEngine) -> None:
    status = cached.cache_status()
    assert status is not None and status.days == 3 and status.rows == three_days().num_rows
    plain = DuckDBEngine(wh, memory_limit="1GB")
    try:
        assert answers(cached) == answers(plain)
        estimate = cached.explain(QUERIES[0])
        assert estimate.rows and estimate.bytes
        assert plain.cache_status() is None
    finally:
        plain.close()


def test_a_late_file_in_a_cached_day_counts_at_once(wh: Path, cached: DuckDBEngine) -> None:
    before = count(cached)
    late = three_days().filter(pc.field("dt") == DAYS[1]).slice(0, 7)
    late = late.set_column(0, "event_id", pa.array([f"late-{i}" for i in range(7)]))
    part = Partition("shop", DAYS[1], late["hour"][0].as_py())
    Storage(str(wh)).write_parquet(part, late.select(FILE_SCHEMA.names).cast(FILE_SCHEMA),
                                   "late")
    assert count(cached) == before + 7  # read from the files until reloaded
    assert cached.wait_cache(60)
    assert count(cached) == before + 7
    status = cached.cache_status()
    assert status is not None and status.rows == before + 7


def test_compacting_a_cached_day_neither_loses_nor_doubles(wh: Path,
                                                          cached: DuckDBEngine) -> None:
    before = answers(cached)
    done = run_once(Storage(str(wh)), CompactionPolicy(grace_s=0),
                    now=datetime(2026, 11, 2, tzinfo=UTC))
    assert done.partitions
    assert answers(cached) == before
    assert cached.wait_cache(60)
    assert answers(cached) == before


def test_a_removed_day_disappears(wh: Path, cached: DuckDBEngine) -> None:
    storage = Storage(str(wh))
    gone = [f for p in storage.partitions() if p.dt == DAYS[0] for f in storage.files(p)]
    storage.delete(gone)
    dts = {r["dt"] for r in cached.run("select distinct dt from events", 10, 30).table.to_pylist()}
    assert dts == set(DAYS[1:])


def test_the_budget_keeps_the_newest_closed_days(wh: Path) -> None:
    con = duckdb.connect()
    sizes = {dt: day.bytes for dt, day in inventory(wh / "events").items()}
    cache = DayCache(con, Storage(str(wh)), _view_columns(),
                     budget_bytes=sizes[DAYS[2]] + sizes[DAYS[1]], settled_s=0)
    con.register("_empty", EVENTS_SCHEMA.empty_table())
    cache.create(f"SELECT {_view_columns()} FROM _empty")
    cache.refresh(now=datetime(2026, 11, 5, tzinfo=UTC))
    assert sorted(r[0] for r in con.sql(f"select distinct dt from {CACHE_TABLE}").fetchall()) \
        == list(DAYS[1:])
    # 2026-10-31 has not been over for two hours yet at 01:00 on 11-01: not cached.
    cache.refresh(now=datetime(2026, 11, 1, 1, tzinfo=UTC))
    assert [r[0] for r in con.sql(f"select distinct dt from {CACHE_TABLE}").fetchall()] \
        == [DAYS[1]]


def test_a_query_pinned_before_a_load_sees_each_day_once(wh: Path) -> None:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    cache = DayCache(con, Storage(str(wh)), _view_columns(), budget_bytes=1 << 30,
                     settled_s=0)
    con.register("_empty", EVENTS_SCHEMA.empty_table())
    cache.create(f"SELECT {_view_columns()} FROM _empty")
    total = three_days().num_rows

    def rows_seen(cur: duckdb.DuckDBPyConnection, cached: frozenset[str]) -> int:
        in_table = cur.execute(f"select count(*) from {CACHE_TABLE}").fetchone()
        files = files_outside(wh / "events", cached)
        in_files = cur.execute("select count(*) from read_parquet($f)", {"f": files}).fetchone() \
            if files else (0,)
        assert in_table is not None and in_files is not None
        return int(in_table[0]) + int(in_files[0])

    early = con.cursor()
    early_days, _ = cache.pin(early)
    assert early_days == frozenset()
    cache.refresh(now=datetime(2026, 11, 5, tzinfo=UTC))
    late = con.cursor()
    late_days, _ = cache.pin(late)
    assert late_days == frozenset(DAYS)
    assert rows_seen(early, early_days) == total  # its snapshot: no cached rows, all files
    assert rows_seen(late, late_days) == total  # all rows cached, no files


def test_engine_runs_only_one_select(cached: DuckDBEngine) -> None:
    for sql in (f"delete from {CACHE_TABLE}", f"drop table {CACHE_TABLE}", "checkpoint",
                "select 1; select 2", "detach daycache"):
        with pytest.raises(EngineError) as err:
            cached.run(sql, 10, 5)
        assert err.value.code in {"forbidden", "bad_sql"}
    assert count(cached) == three_days().num_rows


def test_a_fork_cancels_only_its_own_queries(cached: DuckDBEngine) -> None:
    fork = cached.fork()
    thread, failure = start_slow_query(fork)
    cached.cancel()  # the parent's cancel does not reach the fork's query
    assert thread.is_alive() and fork._running
    fork.cancel()
    thread.join(30)
    assert not thread.is_alive()
    assert isinstance(failure[0], QueryCancelled)
    fork.close()  # a fork leaves the shared connection open
    assert count(cached) == three_days().num_rows


def test_a_failed_pass_is_retried_and_queries_go_on(wh: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from warehouse.engines import duckdb_cache

    real = duckdb_cache.inventory
    calls: list[int] = []

    def flaky(events: Path, only: set[str] | None = None) -> dict[str, duckdb_cache.DayFiles]:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("the disk hiccupped")
        return real(events, only)

    monkeypatch.setattr(duckdb_cache, "inventory", flaky)
    engine = DuckDBEngine(wh, memory_limit="1GB", cache_mb=64)
    try:
        assert count(engine) == three_days().num_rows  # from the files meanwhile
        assert engine.wait_cache(60)
        status = engine.cache_status()
        assert status is not None and status.days == 3 and len(calls) > 1
        assert count(engine) == three_days().num_rows
    finally:
        engine.close()
