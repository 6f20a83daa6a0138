"""The embedded engine's own bounds: join-aware estimates, spill and result caps, timeouts
that hold however early they fire, and no raw duckdb or pyarrow error reaching a caller."""

import threading
from datetime import date
from pathlib import Path

import pyarrow.compute as pc
import pytest

from tests.warehouse._slow import SLOW
from warehouse.demo import generate, write
from warehouse.engines import EngineError, Estimate, QueryTimeout
from warehouse.engines.duckdb_engine import MAX_SPILL, DuckDBEngine

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def wh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wh")
    table = generate(20_000, seed=11, end=date(2026, 11, 1))
    write(table.filter(pc.field("dt") >= "2026-10-29"), root)
    return root


@pytest.fixture(scope="module")
def engine(wh: Path) -> DuckDBEngine:
    e = DuckDBEngine(wh, memory_limit="512MB", max_result_bytes=1 << 20)
    yield e
    e.close()


def scan_rows(engine: DuckDBEngine) -> int:
    rows = engine.explain("select * from events").rows
    assert rows is not None and rows > 100
    return rows


def test_a_three_way_cross_join_is_estimated_at_the_product(engine: DuckDBEngine) -> None:
    n = scan_rows(engine)
    for sql in ("select count(*) as c from events a, events b, events c",
                "select count(*) as c from events a cross join events b cross join events c"):
        assert engine.explain(sql).rows == n ** 3


def test_only_joins_without_an_equality_multiply(engine: DuckDBEngine) -> None:
    n = scan_rows(engine)
    for on in ("a.event_time < b.event_time", "a.user_id = b.user_id or a.event_id = b.event_id",
               "a.event_time between b.event_time and b.received_at"):
        est = engine.explain(f"select count(*) as c from events a join events b on {on}")
        assert est.rows == n * n, on
    for sql in ("select count(*) as c from events a join events b on a.event_id = b.event_id",
                "select count(*) as c from events a, events b where a.event_id = b.event_id"):
        rows = engine.explain(sql).rows
        assert rows is not None and rows < n * n, sql
    one_row = engine.explain("select count(*) as c from events cross join "
                             "(select max(event_time) as m from events) t")
    assert one_row.rows == n


def test_a_product_with_an_input_of_unknown_size_is_unknown(engine: DuckDBEngine) -> None:
    est = engine.explain("select count(*) as c from events "
                         "cross join unnest(sequence(1, 1000)) as t(x)")
    assert est == Estimate()
    assert not est.known


def test_spills_are_capped(engine: DuckDBEngine) -> None:
    # DuckDB's default is 90% of the free disk, which the metadata store shares.
    got = engine.run("select current_setting('max_temp_directory_size') as s", 1, 10)
    assert got.table["s"][0].as_py().replace(" ", "").replace(".0", "") == MAX_SPILL


def test_a_result_larger_than_the_byte_cap_is_truncated(engine: DuckDBEngine) -> None:
    res = engine.run("select concat(event_id, repeat('x', 10000)) as s from events", 10_000, 30)
    assert res.truncated
    assert 0 < res.table.num_rows < 10_000
    assert res.table.nbytes <= 1 << 20


def test_a_timeout_that_fires_before_execution_still_stops_the_query(
        engine: DuckDBEngine) -> None:
    # The first interrupt often lands while DuckDB is still binding, where it is lost.
    for _ in range(15):
        with pytest.raises(QueryTimeout):
            engine.run(SLOW, 10, 0.0005)


def test_a_query_out_of_memory_because_of_another_runs_again(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """DuckDB's memory limit is shared: while one query's list aggregate fills it, another's
    allocation fails too. That one waits for the other query to end and runs again."""
    root = tmp_path_factory.mktemp("big")
    write(generate(50_000, seed=7, end=date(2026, 11, 1)), root)
    engine = DuckDBEngine(root, memory_limit="512MB")
    hog = ("select length(string_agg(concat(a.event_id, b.event_id), ',')) as n from events a "
           "cross join (select event_id from events limit 2000) b")
    small = ["select event_type, count(*) as n from events group by 1",
             "select app_id, count(distinct user_id) as u from events group by 1"]
    hogging = threading.Event()
    hogging.set()
    hog_codes: list[str] = []
    failures: list[str] = []
    answers = [0]

    def hogger() -> None:
        try:
            for _ in range(6):
                try:
                    engine.run(hog, 10, 10)
                    hog_codes.append("ok")
                except EngineError as err:
                    hog_codes.append(err.code)
        finally:
            hogging.clear()

    def neighbour() -> None:
        while hogging.is_set():
            for sql in small:
                try:
                    engine.run(sql, 100, 10)
                    answers[0] += 1
                except EngineError as err:
                    failures.append(err.code)

    threads = [threading.Thread(target=hogger), threading.Thread(target=neighbour)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(100)
    finally:
        engine.close()
    assert "out_of_memory" in hog_codes
    assert answers[0] > 0 and failures == []
