"""A monitor's series read through DuckDB from a small hand-made warehouse (numbers by hand)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.monitors import MonitorError, parse_monitor, read_series, series_sql
from pipeline.monitors._query import bind
from tests.pipeline.monitors.warehouse_events import write_events
from warehouse.engines import Engine, open_engine

DAY0 = datetime(2026, 3, 2, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    root = tmp_path_factory.mktemp("monitor-wh")
    t10 = DAY0 + 10 * H
    write_events(root, [
        ("shop", "purchase", "u1", t10 + 5 * M, {"cart": {"total": 5.5}, "plan": "pro"}),
        ("shop", "purchase", "u1", t10 + 20 * M, {"cart": {"total": 4}, "plan": "free"}),
        ("shop", "purchase", "u2", t10 + 59 * M, {"cart": {"total": "x"}, "plan": "pro"}),
        ("shop", "page", "u3", t10 + 90 * M, {"plan": "pro", "a-b": {"$c": "it's"}}),
        ("news", "purchase", "u9", t10 + 10 * M, {"cart": {"total": 100}, "plan": "pro"}),
        ("shop", "purchase", None, t10 + 3 * H + M, {"cart": {"total": 1.25}}),
        ("shop", "purchase", "u4", t10 + 3 * H + 2 * M, {"cart": {"total": 2}}),
        ("shop", "purchase", "u4", DAY0 + 26 * H, {"cart": {"total": 10}}),  # the next day
    ])
    opened = open_engine("duckdb", warehouse=root, memory_limit="512MB")
    yield opened
    opened.close()


def values(engine: Engine, spec: Mapping[str, object], start: datetime, end: datetime
           ) -> list[float]:
    return [v for _, v in read_series(engine, parse_monitor(spec), start, end)]


def test_hourly_event_counts_are_zero_filled(engine: Engine) -> None:
    rows = read_series(engine, parse_monitor({"app_id": "shop"}), DAY0 + 9 * H, DAY0 + 15 * H)
    assert [at for at, _ in rows] == [DAY0 + k * H for k in range(9, 15)]
    assert [v for _, v in rows] == [0, 3, 1, 0, 2, 0]  # 09:00 … 14:00


def test_users_sum_event_type_and_breakdown(engine: Engine) -> None:
    window = (DAY0 + 10 * H, DAY0 + 14 * H)
    assert values(engine, {"app_id": "shop", "metric": "users"}, *window) == [2, 1, 0, 1]
    total = {"app_id": "shop", "metric": "sum", "property": "cart.total"}
    assert values(engine, total, *window) == [9.5, 0, 0, 3.25]  # "x" is not a number
    purchases = {"app_id": "shop", "event_type": "purchase"}
    assert values(engine, purchases, *window) == [3, 0, 0, 2]
    pro = {"app_id": "shop", "breakdown": {"key": "plan", "value": "pro"}}
    assert values(engine, pro, *window) == [2, 1, 0, 0]
    odd = {"app_id": "shop", "breakdown": {"key": "a-b.$c", "value": "it's"}}
    assert values(engine, odd, *window) == [0, 1, 0, 0]


def test_daily_resolution(engine: Engine) -> None:
    spec = {"app_id": "shop", "resolution": "day"}
    assert values(engine, spec, DAY0 - timedelta(days=1), DAY0 + timedelta(days=2)) == [0, 6, 1]


def test_a_partial_last_bucket_is_never_read(engine: Engine) -> None:
    rows = read_series(engine, parse_monitor({"app_id": "shop"}), DAY0 + 10 * H,
                       DAY0 + 13 * H + 30 * M)
    assert [v for _, v in rows] == [3, 1, 0]


def test_values_are_parameters_and_bound_as_escaped_literals() -> None:
    spec = parse_monitor({"app_id": "shop", "event_type": "x' OR '1'='1",
                          "breakdown": {"key": "plan", "value": "a'; DROP TABLE events; --"}})
    sql, params = series_sql(spec, DAY0, DAY0 + H)
    assert "x'" not in sql and "DROP" not in sql and sql.count("?") == len(params)
    assert params[0] == "shop" and params[-2:] == ["x' OR '1'='1", "a'; DROP TABLE events; --"]
    assert "'x'' OR ''1''=''1'" in bind(sql, params)


def test_bad_windows_are_monitor_errors(engine: Engine) -> None:
    spec = parse_monitor({"app_id": "shop"})
    with pytest.raises(MonitorError):
        read_series(engine, spec, DAY0 + H, DAY0 + H)
    with pytest.raises(MonitorError):
        read_series(engine, spec, DAY0 + 30 * M, DAY0 + 2 * H)
