from datetime import date
from itertools import pairwise
from pathlib import Path

import duckdb
import pytest

from warehouse.demo import WEEKS, generate, generate_and_write
from warehouse.schema import EVENTS_SCHEMA

END = date(2026, 11, 1)


@pytest.fixture(scope="module")
def demo() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.register("events", generate(200_000, seed=7, end=END))
    return con


def q(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[object, ...]]:
    return con.execute(sql).fetchall()


def test_exact_count_schema_and_determinism() -> None:
    a = generate(5_000, seed=1, end=END)
    assert a.num_rows == 5_000 and a.schema == EVENTS_SCHEMA
    assert a.equals(generate(5_000, seed=1, end=END))
    assert not a.equals(generate(5_000, seed=2, end=END))
    assert generate(0, end=END).num_rows == 0
    assert generate(7, end=END).num_rows == 7


def test_ids_unique_and_times_in_range(demo: duckdb.DuckDBPyConnection) -> None:
    (n, ids, lo, hi), = q(demo, "select count(*), count(distinct event_id), min(event_time), "
                          "max(event_time) from events")
    assert n == ids == 200_000
    assert (hi - lo).days <= WEEKS * 7 and hi.date() < END


def test_funnel_has_drop_off(demo: duckdb.DuckDBPyConnection) -> None:
    counts = dict(q(demo, "select event_type, count(distinct user_id) from events "
                    "where event_type in ('signup','activation','purchase') group by 1"))
    assert counts["signup"] > counts["activation"] > counts["purchase"] > 0
    assert 0.4 < counts["activation"] / counts["signup"] < 0.7
    assert 0.3 < counts["purchase"] / counts["activation"] < 0.6
    (bad,), = q(demo, """select count(*) from events p join events s on p.user_id = s.user_id
                 and s.event_type = 'signup' where p.event_type = 'purchase'
                 and p.event_time < s.event_time""")
    assert bad == 0


def test_weekly_retention_decays(demo: duckdb.DuckDBPyConnection) -> None:
    rows = q(demo, """
        with first as (select user_id, min(event_time) t0 from events
                       where event_type = 'signup' group by 1)
        select floor(date_diff('day', f.t0, e.event_time) / 7) wk, count(distinct e.user_id)
        from events e join first f using (user_id)
        where f.t0 < (select min(t0) from first) + interval 7 day
        group by 1 order by 1""")
    active = [n for _, n in rows][:5]
    assert all(a > b for a, b in pairwise(active))


def test_anomalies_are_visible(demo: duckdb.DuckDBPyConnection) -> None:
    hourly = q(demo, """select date_trunc('hour', event_time) h, count(*) from events
                        where app_id = 'shop' group by 1 order by 2 desc limit 2""")
    assert hourly[0][1] > 5 * hourly[1][1]  # the spike hour stands out
    daily = dict(q(demo, """select dt, count(*) from events where app_id = 'news'
                            and dt between '2026-10-20' and '2026-10-30' group by 1"""))
    drop = daily.pop("2026-10-27")
    assert drop < 0.4 * min(daily.values())


def test_properties_are_json_with_revenue_on_purchases(demo: duckdb.DuckDBPyConnection) -> None:
    (n, with_rev, rev), = q(demo, """select count(*), count(json_extract(properties, '$.revenue')),
        sum(cast(json_extract_string(properties, '$.revenue') as double)) from events
        where event_type = 'purchase'""")
    assert n == with_rev and rev > 0
    keys = q(demo, "select distinct json_extract_string(properties, '$.device') from events")
    assert {k for (k,) in keys} == {"ios", "android", "web"}


def test_write_layout_partitions_match_event_time(tmp_path: Path) -> None:
    summary = generate_and_write(20_000, tmp_path, seed=3, end=END, files_per_partition=2)
    assert summary.events == 20_000 and sum(summary.by_app.values()) == 20_000
    con = duckdb.connect()
    rel = con.execute(f"""select count(*), count_if(dt <> strftime(event_time at time zone 'UTC',
        '%Y-%m-%d') or hour <> strftime(event_time at time zone 'UTC', '%H'))
        from read_parquet('{tmp_path}/events/*/*/*/*.parquet', hive_partitioning = true,
                          hive_types_autocast = false)""").fetchall()
    assert rel == [(20_000, 0)]
    files = list((tmp_path / "events").rglob("*.parquet"))
    assert len(files) == summary.files
