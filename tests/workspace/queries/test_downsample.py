"""Long time series are thinned in SQL: the wrapped query passes the guardrails and runs on DuckDB
(and Trino), returns at most `max_points` buckets per series under the spec's own column names,
and each bucket holds the average of exactly the rows the documented rule puts in it (recomputed
here in Python from the unthinned result)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import sqlglot
from sqlglot import exp

from charts import ChartError, ChartSpec, problems, to_figure
from guardrails import Policy, check
from guardrails.execute import RateLimiter, execute
from tests.fixtures.trino import TrinoHandle
from tests.workspace.events_fixture import TENANT, write_warehouse
from warehouse.demo import generate, write
from warehouse.engines import Engine
from warehouse.engines.duckdb_engine import DuckDBEngine
from warehouse.engines.trino_engine import TrinoEngine
from warehouse.schema import TRINO_TYPES
from workspace.queries import downsample_sql, needs_downsampling
from workspace.queries.downsample import DAY_S, NICE_WIDTHS_S, ORIGIN, WEEK_S

CATALOG = {"events": TRINO_TYPES}
PER_MINUTE = ("SELECT date_trunc('minute', event_time) AS minute, app_id, count(*) AS n "
              "FROM events GROUP BY 1, 2")
MINUTES = ChartSpec(kind="line", x="minute", y=["n"], series="app_id")
DENSE_END = date(2026, 10, 26)
DENSE_FROM = "2026-10-16"  # ten days of demo events, all three apps
MAX_POINTS = 100
X_VARIANTS = (  # a date, ISO text with a space or a T, and the dt partition column
    "CAST(event_time AS date)",
    "CAST(date_trunc('hour', event_time) AS varchar)",
    "replace(CAST(date_trunc('hour', event_time) AS varchar), ' ', 'T')",
    "dt",
)


@pytest.fixture(scope="module")
def fixture_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DuckDBEngine]:
    """The hand-built fixture warehouse of tests/workspace (a few dozen events)."""
    engine = DuckDBEngine(write_warehouse(tmp_path_factory.mktemp("fixture-wh")),
                          memory_limit="1GB")
    yield engine
    engine.close()


def dense_events() -> pa.Table:
    return generate(100_000, seed=7, end=DENSE_END).filter(pc.field("dt") >= DENSE_FROM)


@pytest.fixture(scope="module")
def dense(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DuckDBEngine]:
    """Ten days of demo events: per-minute series of thousands of points per app."""
    root = tmp_path_factory.mktemp("dense-wh")
    write(dense_events(), root)
    engine = DuckDBEngine(root, memory_limit="1GB")
    yield engine
    engine.close()


def run(sql: str, engine: Engine, tenant: str | None = None,
        max_rows: int = 100_000) -> pa.Table:
    """Through the guardrails, checked for ``engine``'s own dialect."""
    policy = Policy(tenant_app_id=tenant, max_rows=max_rows, queries_per_minute=None)
    done = execute(sql, engine=engine, policy=policy, actor="queries-test", source="dashboard",
                   limiter=RateLimiter())
    assert not done.result.truncated
    return done.table


def downsampled(sql: str, spec: ChartSpec, max_points: int = MAX_POINTS) -> str:
    out = downsample_sql(sql, spec, max_points=max_points)
    assert out is not None
    return out


# -- the rule, written again in Python ---------------------------------------------------------
def nice_width(span_s: int, max_points: int) -> int:
    raw = max(1, math.ceil(span_s / (max_points - 2)))
    nice = [w for w in NICE_WIDTHS_S if w >= raw]
    if nice:
        return nice[0]
    unit = DAY_S if raw <= WEEK_S else WEEK_S
    return math.ceil(raw / unit) * unit


def expected(raw: pa.Table, spec: ChartSpec, max_points: int) -> tuple[int, dict[Any, float]]:
    """(bucket width in s, {(bucket start, series): average of the first y})."""
    assert spec.x is not None
    origin = datetime.fromisoformat(ORIGIN)
    rows = raw.to_pylist()
    times = [as_time(r[spec.x]) for r in rows]
    width = nice_width(int((max(times) - min(times)).total_seconds()), max_points)
    sums: dict[Any, list[float]] = defaultdict(lambda: [0.0, 0])
    for at, row in zip(times, rows, strict=True):
        k = math.floor(int((at - origin).total_seconds()) / width) * width
        cell = sums[(origin + timedelta(seconds=k), row[spec.series] if spec.series else None)]
        cell[0] += row[spec.y[0]]
        cell[1] += 1
    return width, {key: total / n for key, (total, n) in sums.items()}


def as_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime.combine(value, datetime.min.time())
    return datetime.fromisoformat(str(value).replace("T", " "))


def per_series(table: pa.Table, series: str | None) -> dict[Any, int]:
    if series is None:
        return {None: table.num_rows}
    return {row["values"]: row["counts"] for row in pc.value_counts(table[series]).to_pylist()}


# -- the SQL itself ---------------------------------------------------------------------------
def test_only_time_series_kinds_are_wrapped() -> None:
    for kind in ("bar", "stacked_bar", "funnel", "retention_heatmap", "number", "table"):
        assert downsample_sql(PER_MINUTE, ChartSpec(kind=kind, x="minute", y=["n"]),
                              max_points=MAX_POINTS) is None
    assert downsample_sql(PER_MINUTE, ChartSpec(kind="line", y=["n"]), max_points=50) is None
    assert downsample_sql(PER_MINUTE, ChartSpec(kind="area", x="minute"), max_points=50) is None
    assert downsample_sql(PER_MINUTE, ChartSpec(kind="line", x="n", y=["n"]),
                          max_points=50) is None
    assert downsample_sql("SELEC oops", MINUTES, max_points=50) is None
    assert downsample_sql("SELECT 1; SELECT 2", MINUTES, max_points=50) is None
    assert downsample_sql("DELETE FROM events", MINUTES, max_points=50) is None
    with pytest.raises(ChartError) as caught:
        downsample_sql(PER_MINUTE, MINUTES, max_points=2)
    assert caught.value.code == "bad_chart" and caught.value.hint


def test_output_columns_are_the_specs_quoted_names() -> None:
    spec = ChartSpec(kind="area", x="Minute of Day", y=["n", "select"], series='we"ird')
    inner = ('SELECT date_trunc(\'minute\', event_time) AS "Minute of Day", '
             'app_id AS "we""ird", count(*) AS n, count(*) AS "select" FROM events GROUP BY 1, 2')
    tree = sqlglot.parse_one(downsampled(inner, spec), read="trino")
    assert isinstance(tree, exp.Select)
    assert tree.named_selects == ["Minute of Day", 'we"ird', "n", "select"]
    assert all(alias.args["alias"].quoted for alias in tree.expressions)


def test_column_names_cannot_inject_sql() -> None:
    evil = 'n" FROM events; DROP TABLE events; --'
    sql = downsampled(PER_MINUTE, ChartSpec(kind="line", x="minute", y=[evil]))
    (tree,) = sqlglot.parse(sql, read="trino")
    assert tree is not None and not list(tree.find_all(exp.Drop))
    names = {c.name for c in tree.find_all(exp.Column)}
    assert evil in names
    check(sql, CATALOG, Policy(mode="warn"))  # one read-only query; the odd column is unknown


def test_passes_the_guardrails_with_the_tenant_filter() -> None:
    checked = check(downsampled(PER_MINUTE, MINUTES), CATALOG, Policy(tenant_app_id=TENANT))
    assert "tenant_filter" in checked.changes
    assert f"app_id = '{TENANT}'" in checked.sql
    checked = check(downsampled(PER_MINUTE, MINUTES), CATALOG,
                    Policy(dialect="trino", tenant_app_id=TENANT))
    assert "tenant_filter" in checked.changes


def test_needs_downsampling() -> None:
    minutes = [datetime(2026, 10, 5) + timedelta(minutes=i) for i in range(6)]
    table = pa.table({"minute": minutes, "app_id": ["a", "b"] * 3, "n": range(6)})
    assert needs_downsampling(ChartSpec(kind="line", x="minute", y=["n"]), table, 5)
    assert not needs_downsampling(ChartSpec(kind="line", x="minute", y=["n"]), table, 6)
    assert not needs_downsampling(MINUTES, table, 5)  # three rows per series
    assert needs_downsampling(MINUTES, table, 2)
    assert needs_downsampling(ChartSpec(kind="area", x="minute", y=["n"]), table, 5)
    assert not needs_downsampling(ChartSpec(kind="bar", x="minute", y=["n"]), table, 2)
    text = pa.table({"app_id": ["a"] * 6, "n": range(6)})
    assert not needs_downsampling(ChartSpec(kind="line", x="app_id", y=["n"]), text, 2)
    days = pa.table({"dt": [f"2026-10-0{d}" for d in range(1, 7)], "n": range(6)})
    assert needs_downsampling(ChartSpec(kind="line", x="dt", y=["n"]), days, 5)
    assert not needs_downsampling(ChartSpec(kind="line", x="nope", y=["n"]), days, 2)


# -- on DuckDB ---------------------------------------------------------------------------------
def test_runs_on_the_fixture_warehouse(fixture_engine: DuckDBEngine) -> None:
    inner = ("SELECT date_trunc('hour', event_time) AS hour_start, event_type, count(*) AS n "
             "FROM events GROUP BY 1, 2")
    spec = ChartSpec(kind="line", x="hour_start", y=["n"], series="event_type")
    raw = run(inner, fixture_engine, tenant=TENANT)
    out = run(downsampled(inner, spec, max_points=10), fixture_engine, tenant=TENANT)
    assert out.column_names == ["hour_start", "event_type", "n"]
    assert pa.types.is_timestamp(out.schema.field("hour_start").type)
    assert max(per_series(out, "event_type").values()) <= 10
    assert set(per_series(out, "event_type")) == set(per_series(raw, "event_type"))
    width, want = expected(raw, spec, 10)
    got = {(r["hour_start"], r["event_type"]): r["n"] for r in out.to_pylist()}
    assert got == pytest.approx(want)
    assert width == 3 * DAY_S  # 16 days 11 hours in at most 8 intervals: whole days
    assert problems(spec, out) == []


def test_dense_series_is_thinned_to_the_cap(dense: DuckDBEngine) -> None:
    raw = run(PER_MINUTE, dense)
    assert min(per_series(raw, "app_id").values()) > 10 * MAX_POINTS
    assert needs_downsampling(MINUTES, raw, MAX_POINTS)
    out = run(downsampled(PER_MINUTE, MINUTES), dense)
    assert out.column_names == raw.column_names
    counts = per_series(out, "app_id")
    assert set(counts) == {"shop", "news", "fitness"}
    assert max(counts.values()) <= MAX_POINTS
    assert not needs_downsampling(MINUTES, out, MAX_POINTS)
    # Every bucket is the average of exactly the rows the documented rule puts in it.
    width, want = expected(raw, MINUTES, MAX_POINTS)
    got = {(r["minute"], r["app_id"]): r["n"] for r in out.to_pylist()}
    assert got == pytest.approx(want, rel=1e-12)
    # The buckets cover the raw span: the first holds the first minute, the last the last.
    starts = sorted(set(out["minute"].to_pylist()))
    first, last = min(raw["minute"].to_pylist()), max(raw["minute"].to_pylist())
    assert starts[0] <= first < starts[0] + timedelta(seconds=width)
    assert starts[-1] <= last < starts[-1] + timedelta(seconds=width)
    assert width == 10_800  # ten days in at most 98 intervals: 3 hours
    assert out["minute"].to_pylist() == sorted(out["minute"].to_pylist())
    to_figure(MINUTES, out)


def test_averages_keep_a_constant_series_constant(dense: DuckDBEngine) -> None:
    inner = ("SELECT date_trunc('second', event_time) AS at, app_id, 7 AS seven, "
             "count(*) AS n FROM events GROUP BY 1, 2")
    spec = ChartSpec(kind="line", x="at", y=["seven", "n"], series="app_id")
    out = run(downsampled(inner, spec, max_points=50), dense, tenant="news")
    assert set(out["app_id"].to_pylist()) == {"news"}
    assert 0 < out.num_rows <= 50
    assert set(out["seven"].to_pylist()) == {7.0}
    assert pc.min(out["n"]).as_py() >= 1.0


@pytest.mark.parametrize("x_sql", X_VARIANTS)
def test_dates_and_iso_text(dense: DuckDBEngine, x_sql: str) -> None:
    inner = f"SELECT {x_sql} AS day, count(*) AS n FROM events GROUP BY 1"
    spec = ChartSpec(kind="line", x="day", y=["n"])
    raw = run(inner, dense)
    out = run(downsampled(inner, spec, max_points=4), dense)
    assert out.column_names == ["day", "n"]
    assert pa.types.is_timestamp(out.schema.field("day").type)
    assert 0 < out.num_rows <= 4
    width, want = expected(raw, spec, 4)
    assert {(r["day"], None): r["n"] for r in out.to_pylist()} == pytest.approx(want)
    assert width == 5 * DAY_S  # 9 days (and 23 hours) in at most 2 intervals


def test_empty_result(fixture_engine: DuckDBEngine) -> None:
    inner = ("SELECT date_trunc('minute', event_time) AS minute, count(*) AS n FROM events "
             "WHERE event_type = 'nothing' GROUP BY 1")
    out = run(downsampled(inner, ChartSpec(kind="line", x="minute", y=["n"])), fixture_engine)
    assert out.num_rows == 0 and out.column_names == ["minute", "n"]


# -- on Trino 476 ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trino(trino_server: TrinoHandle) -> Iterator[TrinoEngine]:
    """The dense events again, under app ids prefixed ``ds-`` (the Trino warehouse is shared)."""
    rows = dense_events()
    apps = pc.binary_join_element_wise("ds-", rows["app_id"], "")
    write(rows.set_column(rows.schema.get_field_index("app_id"), "app_id", apps),
          trino_server.warehouse, basename="downsample")
    trino_server.register()
    engine = TrinoEngine(trino_server.host, trino_server.port)
    yield engine
    engine.close()


@pytest.mark.trino
def test_same_buckets_on_trino(trino: TrinoEngine, dense: DuckDBEngine) -> None:
    sql = downsampled(PER_MINUTE, MINUTES)
    on_trino = run(sql, trino, tenant="ds-shop")
    on_duckdb = run(sql, dense, tenant="shop")
    assert on_trino.column_names == on_duckdb.column_names
    assert pa.types.is_timestamp(on_trino.schema.field("minute").type)
    assert 0 < on_trino.num_rows == on_duckdb.num_rows <= MAX_POINTS
    assert on_trino["minute"].to_pylist() == on_duckdb["minute"].to_pylist()
    assert on_trino["n"].to_pylist() == pytest.approx(on_duckdb["n"].to_pylist(), rel=1e-12)
    assert set(on_trino["app_id"].to_pylist()) == {"ds-shop"}


@pytest.mark.trino
def test_dates_and_iso_text_on_trino(trino: TrinoEngine, dense: DuckDBEngine) -> None:
    for x_sql in X_VARIANTS:
        sql = downsampled(f"SELECT {x_sql} AS day, count(*) AS n FROM events GROUP BY 1",
                          ChartSpec(kind="line", x="day", y=["n"]), max_points=4)
        on_trino = run(sql, trino, tenant="ds-news")
        on_duckdb = run(sql, dense, tenant="news")
        assert pa.types.is_timestamp(on_trino.schema.field("day").type), x_sql
        assert on_trino["day"].to_pylist() == on_duckdb["day"].to_pylist(), x_sql
        assert on_trino["n"].to_pylist() == pytest.approx(on_duckdb["n"].to_pylist()), x_sql
