"""Long time series reach the chart in buckets computed by the engine, never point by point:
dashboard tiles and chat answers alike, through the guardrails, under the tenant scope."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pyarrow.compute as pc
import pytest
from sqlalchemy.engine import Engine as SqlEngine

from causality.settings import load_settings
from charts import ChartSpec
from metadata import open_db
from metadata.users import User
from warehouse.demo import generate_and_write
from warehouse.engines.duckdb_engine import DuckDBEngine
from workspace.filters import Filters
from workspace.service import Workspace

MAX_POINTS = 50
HOURLY = ("SELECT date_trunc('hour', event_time) AS hour, count(*) AS events FROM events "
          "GROUP BY 1 ORDER BY 1")


@pytest.fixture(scope="module")
def dense(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DuckDBEngine]:
    root = tmp_path_factory.mktemp("dense-wh")
    generate_and_write(20_000, root, seed=3, end=date(2026, 11, 20))
    engine = DuckDBEngine(root, memory_limit="1GB")
    yield engine
    engine.close()


@pytest.fixture
def ws(dense: DuckDBEngine, tmp_path: Path) -> Workspace:
    db: SqlEngine = open_db(f"sqlite:///{tmp_path / 'meta.db'}")
    settings = load_settings(data_dir=tmp_path,
                             workspace={"max_chart_points": MAX_POINTS, "cache_ttl_s": 60})
    return Workspace(settings, engine=dense, db=db)


@pytest.fixture
def ann(ws: Workspace) -> User:
    return ws.users.add("ann", "correct horse battery", "analyst")


def test_a_long_tile_series_comes_back_in_at_most_max_points_buckets(
        ws: Workspace, ann: User) -> None:
    full = ws.run_sql(HOURLY, user=ann).table
    assert full.num_rows > MAX_POINTS  # the premise: more hours than points
    board = ws.dashboards.create("load", "ann")
    tile = ws.dashboards.add_tile(board.dashboard_id, title="hourly", sql=HOURLY,
                                  created_by="ann",
                                  chart=ChartSpec(kind="line", x="hour", y=["events"]))
    result = ws.run_tile(tile, Filters(), tenant=None, actor="ann")
    assert result.error is None and result.table is not None
    assert result.downsampled
    assert 2 < result.table.num_rows <= MAX_POINTS
    assert result.table.column_names == ["hour", "events"]
    # the buckets cover the same span, and their mean is the hourly mean, weighted by hours
    assert result.table.column("hour")[0].as_py() <= full.column("hour")[0].as_py()
    assert pc.max(result.table.column("hour")).as_py() <= full.column("hour")[-1].as_py()
    assert pc.min(result.table.column("events")).as_py() >= pc.min(full.column("events")).as_py()
    assert pc.max(result.table.column("events")).as_py() <= pc.max(full.column("events")).as_py()
    again = ws.run_tile(tile, Filters(), tenant=None, actor="ann")
    assert again.cached and again.downsampled and again.table == result.table
    audited = [row["sql_run"] for row in ws.audit.tail(5)]
    assert any("width_s" in (sql or "") for sql in audited)  # the bucketed query ran, audited


def test_a_short_series_and_a_bar_chart_are_left_alone(ws: Workspace, ann: User) -> None:
    board = ws.dashboards.create("small", "ann")
    daily = ws.dashboards.add_tile(
        board.dashboard_id, title="daily", created_by="ann",
        sql="SELECT dt, count(*) AS events FROM events GROUP BY 1 ORDER BY 1 LIMIT 20")
    by_type = ws.dashboards.add_tile(
        board.dashboard_id, title="types", created_by="ann",
        sql="SELECT event_type, count(*) AS n FROM events GROUP BY 1")
    for tile in (daily, by_type):
        result = ws.run_tile(tile, Filters(), tenant=None, actor="ann")
        assert result.error is None and not result.downsampled


def test_the_buckets_keep_the_tenant_scope(ws: Workspace, ann: User) -> None:
    apps = ws.run_sql("SELECT DISTINCT app_id FROM events", user=ann).table.column(0).to_pylist()
    one = sorted(apps)[0]
    board = ws.dashboards.create("scoped", "ann")
    tile = ws.dashboards.add_tile(board.dashboard_id, title="hourly", sql=HOURLY,
                                  created_by="ann",
                                  chart=ChartSpec(kind="line", x="hour", y=["events"]))
    everyone = ws.run_tile(tile, Filters(), tenant=None, actor="ann")
    scoped = ws.run_tile(tile, Filters(), tenant=one, actor="ann")
    assert scoped.downsampled and everyone.table is not None and scoped.table is not None
    assert pc.sum(scoped.table.column("events")).as_py() < pc.sum(
        everyone.table.column("events")).as_py()
    assert "app_id" in ws.audit.tail(1)[0]["sql_run"]


def test_a_chat_answer_charts_its_long_series_in_buckets(
        dense: DuckDBEngine, tmp_path: Path) -> None:
    from causality.settings import LLMSettings
    from tests.workspace.scripted_model import ScriptedModel
    from workspace.analyst import Session, planner_from_settings

    planner = planner_from_settings(
        LLMSettings(provider="anthropic", anthropic_api_key="x", sdk_retries=0),
        http_client=ScriptedModel("hourly_series").client())
    settings = load_settings(data_dir=tmp_path, workspace={"max_chart_points": MAX_POINTS})
    ws = Workspace(settings, engine=dense, db=open_db(f"sqlite:///{tmp_path / 'm.db'}"),
                   planner=planner)
    ann = ws.users.add("ann", "correct horse battery", "analyst")
    answer = ws.ask("events per hour, all time?", Session(actor="ann"), ann)
    assert answer.table.num_rows > MAX_POINTS  # the table keeps every row it returned
    assert answer.chart_table is not None
    assert answer.chart_points.num_rows <= MAX_POINTS
    assert answer.chart_points.column_names == ["hour", "events"]
