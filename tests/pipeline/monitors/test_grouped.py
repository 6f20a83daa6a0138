"""Many monitors' series read with one query per app and resolution: each equals its own
per-monitor read, a failed grouped query leaves its monitors to be read alone, and the runner
gives the same alerts either way."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from sqlalchemy.engine import Engine as SqlEngine

from metadata import MonitorStore
from pipeline.monitors import MonitorRunner, MonitorSpec, parse_monitor, read_series
from pipeline.monitors._query import grouped_sql, read_grouped
from tests.pipeline.monitors.warehouse_events import Row, write_events
from warehouse.engines import Engine, EngineError, QueryResult, open_engine

DAY0 = datetime(2026, 3, 2, tzinfo=UTC)
H = timedelta(hours=1)
DAY = timedelta(days=1)
END = DAY0 + 3 * DAY


def rows() -> Iterator[Row]:
    """Three days of varied events: types, users (some anonymous), totals (some not numbers),
    plans and a key that needs escaping, in two apps."""
    for k in range(3 * 24 * 6):
        at = DAY0 + k * timedelta(minutes=10) + timedelta(seconds=k % 7)
        kind = ("purchase", "page", "signup")[k % 3 if k % 5 else 1]
        total: object = round(k % 13 * 1.25, 2) if k % 11 else "x"
        props = {"cart": {"total": total}, "plan": ("pro", "free", "it's")[k % 4 % 3]}
        if k % 17 == 0:
            props["a-b"] = {"$c": "it's"}
        user = None if k % 9 == 0 else f"u{k % 23}"
        yield ("shop", kind, user, at, props)
        if k % 4 == 0:
            yield ("news", "read", f"r{k % 5}", at, {"plan": "pro"})


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    root = tmp_path_factory.mktemp("grouped-wh")
    write_events(root, rows())
    opened = open_engine("duckdb", warehouse=root, memory_limit="512MB")
    yield opened
    opened.close()


class Counting:
    """The engine, counting its queries; with ``fail_grouped`` a grouped query fails."""

    def __init__(self, inner: Engine, fail_grouped: bool = False) -> None:
        self.inner, self.fail_grouped = inner, fail_grouped
        self.name, self.dialect = inner.name, inner.dialect
        self.sql: list[str] = []

    def run(self, sql: str, max_rows: int, timeout_s: float, source: str | None = None
            ) -> QueryResult:
        self.sql.append(sql)
        if self.fail_grouped and " AS v0" in sql:
            raise EngineError("grouped query refused")
        return self.inner.run(sql, max_rows, timeout_s, source)


SPECS = [
    {"app_id": "shop"},
    {"app_id": "shop", "metric": "users"},
    {"app_id": "shop", "metric": "sum", "property": "cart.total"},
    {"app_id": "shop", "event_type": "purchase"},
    {"app_id": "shop", "metric": "users", "event_type": "page",
     "breakdown": {"key": "plan", "value": "pro"}},
    {"app_id": "shop", "metric": "sum", "property": "cart.total", "event_type": "purchase",
     "breakdown": {"key": "plan", "value": "it's"}},
    {"app_id": "shop", "breakdown": {"key": "a-b.$c", "value": "it's"}},
    {"app_id": "shop", "event_type": "none such"},
    {"app_id": "news"},
    {"app_id": "news", "metric": "users", "breakdown": {"key": "plan", "value": "pro"}},
    {"app_id": "shop", "resolution": "day"},
    {"app_id": "shop", "resolution": "day", "metric": "users", "event_type": "signup"},
    {"app_id": "shop", "resolution": "day", "metric": "sum", "property": "cart.total"},
    {"app_id": "news", "resolution": "day", "breakdown": {"key": "plan", "value": "free"}},
]


def windows() -> dict[int, tuple[MonitorSpec, datetime, datetime]]:
    """Each spec over its own start (staggered) and the common end of its resolution."""
    out = {}
    for i, data in enumerate(SPECS):
        spec = parse_monitor(data)
        if spec.resolution.value == "hour":
            out[i] = (spec, DAY0 + (i % 4) * 7 * H, END - 5 * H)
        else:
            out[i] = (spec, DAY0 + (i % 2) * DAY, END)
    return out


def test_the_grouped_read_equals_each_monitors_own_read(engine: Engine) -> None:
    reads = windows()
    counting = Counting(engine)
    grouped = read_grouped(cast(Engine, counting), reads, max_columns=3)
    assert set(grouped) == set(reads)
    for key, (spec, start, end) in reads.items():
        assert grouped[key] == read_series(engine, spec, start, end), SPECS[key]
    assert any(v > 0 for series in grouped.values() for _, v in series)
    # shop hour: 8 monitors in chunks of 3; news hour: 2; shop day: 3; news day: 1
    assert len(counting.sql) == 3 + 1 + 1 + 1


def test_grouped_sql_binds_every_value_and_filters_each_column() -> None:
    specs = [parse_monitor({"app_id": "shop", "event_type": "x' OR '1'='1"}),
             parse_monitor({"app_id": "shop", "breakdown": {"key": "plan", "value": "a'--"}}),
             parse_monitor({"app_id": "shop", "metric": "users"})]
    sql, params = grouped_sql(specs, DAY0, DAY0 + H)
    assert "x'" not in sql and sql.count("?") == len(params)
    assert sql.count("FILTER (WHERE") == 2 and params[:2] == ["x' OR '1'='1", "a'--"]
    with pytest.raises(Exception, match="share app and resolution"):
        grouped_sql([specs[0], parse_monitor({"app_id": "news"})], DAY0, DAY0 + H)


def test_a_failed_group_or_a_bad_window_is_left_to_the_single_read(engine: Engine) -> None:
    reads = windows()
    bad = parse_monitor({"app_id": "shop"})
    reads[99] = (bad, DAY0 + 30 * timedelta(minutes=1), END)  # not a bucket start
    grouped = read_grouped(cast(Engine, Counting(engine, fail_grouped=True)), reads)
    assert grouped == {}
    assert set(read_grouped(engine, reads)) == set(reads) - {99}


MONITORS = {
    "shop events": MonitorSpec(app_id="shop"),
    "shop users": MonitorSpec(app_id="shop", metric="users"),
    "shop pro purchases": parse_monitor({"app_id": "shop", "event_type": "purchase",
                                         "breakdown": {"key": "plan", "value": "pro"}}),
    "shop daily": MonitorSpec(app_id="shop", resolution="day"),
    "news events": MonitorSpec(app_id="news"),
    "news tracking": MonitorSpec(app_id="news", kind="no_events", silence_minutes=60),
    "gone tracking": MonitorSpec(app_id="gone", kind="no_events", silence_minutes=60),
}


@pytest.mark.parametrize("fail_grouped", [False, True])
def test_the_runner_evaluates_the_same_with_or_without_grouped_reads(
    db: SqlEngine, engine: Engine, fail_grouped: bool
) -> None:
    store = MonitorStore(db)
    for name, spec in MONITORS.items():
        store.add(name, spec.app_id, spec.model_dump_json(), "ann")
    counting = Counting(engine, fail_grouped)
    runner = MonitorRunner(store, cast(Engine, counting), lambda t: None, holder="test")
    seen = []
    for now in (END - 6 * H, END - 5 * H, END + 2 * H):  # fresh, an hour on, news silent
        seen.append(sorted((t.name, t.kind, t.direction) for t in runner.run_once(now)))
        assert runner.skipped == []
    assert seen == [[("gone tracking", "fired", "no_events")], [],
                    [("news tracking", "fired", "no_events")]]
    # per pass one query per app for its first day and last events: 3 apps, 3 passes; one
    # series query per app and resolution with new buckets (3, 2, 3), or that one failing and
    # then one per monitor (5, 4, 5)
    series = [sql for sql in counting.sql if "AS bucket" in sql]
    assert len(counting.sql) - len(series) == 3 * 3
    assert len(series) == (3 + 5 + 2 + 4 + 3 + 5 if fail_grouped else 3 + 2 + 3)


@pytest.mark.trino
def test_trino_gives_the_grouped_read_the_same_numbers(engine: Engine, trino_server: object
                                                       ) -> None:
    """The grouped SQL runs on Trino too (FILTER, the DISTINCT users form, bracket JSON
    paths), and its numbers equal DuckDB's per-monitor reads of the same events."""
    from tests.fixtures.trino import TrinoHandle

    trino = cast(TrinoHandle, trino_server)
    prefix = "mgrp-"
    write_events(trino.warehouse, ((prefix + app, *rest) for app, *rest in rows()),
                 basename="mgrp")
    trino.register()
    on_trino = open_engine("trino", host=trino.host, port=trino.port)
    reads = {}
    for key, (spec, start, end) in windows().items():
        moved = spec.model_copy(update={"app_id": prefix + spec.app_id})
        reads[key] = (moved, start, end)
    grouped = read_grouped(on_trino, reads)
    assert set(grouped) == set(reads)
    for key, (spec, start, end) in windows().items():
        assert grouped[key] == read_series(engine, spec, start, end), SPECS[key]
