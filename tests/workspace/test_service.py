"""The `Workspace` facade over the hand-built warehouse: roles, tenant scopes, the audit log,
the cost check, dashboard tiles and their result cache, the planner's data context.

Expected numbers are counted by hand from tests/workspace/events_fixture.py: ``shop`` has 31
events (9 signups, 7 activations, 5 purchases, 10 pages), ``news`` 3 (one of each funnel step).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine as SqlEngine

from causality.settings import load_settings
from charts import ChartSpec
from guardrails import Rejected
from metadata.dashboards import Dashboard, Tile
from metadata.users import User
from tests.workspace.events_fixture import OTHER_APP, TENANT
from tests.workspace.scripted_model import ScriptedModel, anthropic_planner
from warehouse.engines import Estimate
from warehouse.engines.duckdb_engine import DuckDBEngine
from workspace.analyst import Session
from workspace.errors import AccessDenied
from workspace.filters import Filters
from workspace.service import Workspace

BY_TYPE = "SELECT event_type, count(*) AS n FROM events GROUP BY 1 ORDER BY 1"
SHOP_BY_TYPE = [("activation", 7), ("page", 10), ("purchase", 5), ("signup", 9)]
NEWS_BY_TYPE = [("activation", 1), ("purchase", 1), ("signup", 1)]
# shop on 10-05: u1 signup/activation/purchase, u2 signup, u8 activation, anonymous signup
# and page; 10-06: u1 page, u2 activation, u3 two signups, u4 three events, u6 activation.
SHOP_5_TO_6 = [("activation", 5), ("page", 2), ("purchase", 2), ("signup", 6)]
OCT5, OCT6 = date(2026, 10, 5), date(2026, 10, 6)

Person = Callable[..., User]


def make_ws(engine: DuckDBEngine, db: SqlEngine, tmp_path: Path, **settings: Any) -> Workspace:
    return Workspace(load_settings(data_dir=tmp_path, **settings), engine=engine, db=db)


@pytest.fixture
def ws(engine: DuckDBEngine, db: SqlEngine, tmp_path: Path) -> Workspace:
    return make_ws(engine, db, tmp_path)


@pytest.fixture
def person() -> Person:
    """`person(role, app_id=None)`: a user with a name of its own (the process-wide rate
    limiter counts queries per name, so tests never share one)."""

    def make(role: str = "analyst", app_id: str | None = None) -> User:
        name = f"{role}-{secrets.token_hex(4)}"
        return User(name, role, app_id, None, datetime.now(UTC))  # type: ignore[arg-type]

    return make


def rows(table: Any) -> list[tuple[Any, ...]]:
    return [tuple(r.values()) for r in table.to_pylist()]


def audited(ws: Workspace) -> list[dict[str, Any]]:
    return ws.audit.tail(1000)


# -- roles, scopes, audit -----------------------------------------------------------------

def test_a_viewer_cannot_run_sql_and_nothing_runs(ws: Workspace, person: Person) -> None:
    viewer = person("viewer")
    with pytest.raises(AccessDenied) as caught:
        ws.run_sql(BY_TYPE, user=viewer)
    assert caught.value.code == "forbidden"
    assert viewer.username in caught.value.message and "analyst" in caught.value.message
    assert caught.value.hint
    assert audited(ws) == []


@pytest.mark.parametrize("role", ["analyst", "admin"])
def test_analysts_and_admins_run_sql(ws: Workspace, person: Person, role: str) -> None:
    run = ws.run_sql(BY_TYPE, user=person(role), app_id=TENANT)
    assert rows(run.table) == SHOP_BY_TYPE


def test_require_follows_the_role_ladder(person: Person) -> None:
    Workspace.require(person("admin"), "viewer")
    Workspace.require(person("analyst"), "analyst")
    with pytest.raises(AccessDenied):
        Workspace.require(person("analyst"), "admin")


def test_scope_of_a_scoped_user_is_their_app(person: Person) -> None:
    sam = person("analyst", TENANT)
    assert Workspace.scope(sam) == TENANT
    assert Workspace.scope(sam, TENANT) == TENANT
    with pytest.raises(AccessDenied) as caught:
        Workspace.scope(sam, OTHER_APP)
    assert caught.value.code == "forbidden" and TENANT in caught.value.hint


def test_scope_of_an_unscoped_user_is_what_they_pick(person: Person) -> None:
    ann = person()
    assert Workspace.scope(ann) is None
    assert Workspace.scope(ann, OTHER_APP) == OTHER_APP


def test_a_scoped_user_cannot_query_another_app(ws: Workspace, person: Person) -> None:
    sam = person("analyst", TENANT)
    with pytest.raises(AccessDenied):
        ws.run_sql(BY_TYPE, user=sam, app_id=OTHER_APP)
    assert audited(ws) == []


@pytest.mark.parametrize("sql", [
    BY_TYPE,
    "SELECT event_type, count(*) AS n FROM events WHERE app_id IN ('shop', 'news') "
    "GROUP BY 1 ORDER BY 1",
    "SELECT e.event_type, count(*) AS n FROM events e WHERE e.app_id = 'shop' OR true "
    "GROUP BY 1 ORDER BY 1",
])
def test_a_scoped_users_queries_see_only_their_app(ws: Workspace, person: Person,
                                                   sql: str) -> None:
    assert rows(ws.run_sql(sql, user=person("analyst", TENANT)).table) == SHOP_BY_TYPE


def test_a_scoped_user_asking_for_the_other_app_by_hand_gets_nothing(
        ws: Workspace, person: Person) -> None:
    run = ws.run_sql("SELECT count(*) AS n FROM events WHERE app_id = 'news'",
                     user=person("analyst", TENANT))
    assert rows(run.table) == [(0,)]


def test_an_unscoped_user_sees_every_app_or_the_one_they_pick(ws: Workspace,
                                                              person: Person) -> None:
    ann = person()
    everything = ws.run_sql("SELECT app_id, count(*) AS n FROM events GROUP BY 1 ORDER BY 1",
                            user=ann)
    assert rows(everything.table) == [(OTHER_APP, 3), (TENANT, 31)]
    assert rows(ws.run_sql(BY_TYPE, user=ann, app_id=OTHER_APP).table) == NEWS_BY_TYPE


@pytest.mark.parametrize("source", ["sql", "chat", "notebook"])
def test_every_run_is_audited_under_the_user_with_its_source(ws: Workspace, person: Person,
                                                             source: str) -> None:
    sam = person("analyst", TENANT)
    run = ws.run_sql(BY_TYPE, user=sam, source=source,  # type: ignore[arg-type]
                     question="events by type?")
    [row] = audited(ws)
    assert row["audit_id"] == run.audit_id
    assert (row["actor"], row["source"], row["verdict"]) == (sam.username, source, "ok")
    assert row["question"] == "events by type?"
    assert row["sql_in"] == BY_TYPE
    assert f"app_id = '{TENANT}'" in str(row["sql_run"]) and row["rows"] == 4


def test_refused_and_failed_runs_are_audited_too(ws: Workspace, person: Person) -> None:
    ann = person()
    with pytest.raises(Rejected):
        ws.run_sql("SELECT nope FROM events", user=ann)
    with pytest.raises(Exception) as failed:
        ws.run_sql("SELECT CAST(event_type AS integer) AS x FROM events", user=ann)
    assert getattr(failed.value, "code", None) == "query_failed"
    refused, error = audited(ws)
    assert (refused["actor"], refused["verdict"], refused["code"]) == (
        ann.username, "rejected", "unknown_column")
    assert (error["actor"], error["verdict"], error["code"]) == (
        ann.username, "error", "query_failed")


# -- check: the verdict and the estimate, without running --------------------------------

def test_check_returns_the_rewritten_sql_and_an_estimate_without_running(
        ws: Workspace) -> None:
    checked, estimate = ws.check("select event_type from events", TENANT)
    assert checked.sql == (f"SELECT event_type FROM (SELECT * FROM events WHERE app_id = "
                           f"'{TENANT}') AS events LIMIT {ws.settings.query.max_rows}")
    assert set(checked.changes) == {"tenant_filter", "limit_injected"}
    assert isinstance(estimate, Estimate) and estimate.known
    assert audited(ws) == []


def test_check_without_scope_only_limits(ws: Workspace) -> None:
    checked, _ = ws.check("SELECT event_type FROM events LIMIT 5", None)
    assert checked.sql == "SELECT event_type FROM events LIMIT 5"
    assert checked.changes == ()


def test_check_refuses_what_the_guardrails_refuse(ws: Workspace) -> None:
    with pytest.raises(Rejected) as caught:
        ws.check("DELETE FROM events", TENANT)
    assert caught.value.code == "not_read_only"
    assert audited(ws) == []


# -- tile_scope ---------------------------------------------------------------------------

def board(app_id: str | None = None) -> Dashboard:
    return Dashboard("b1", "Board", "ann", app_id, datetime.now(UTC))


def test_an_embed_links_app_beats_the_filter(ws: Workspace) -> None:
    assert ws.tile_scope(board(), Filters(app_id=OTHER_APP), None, embed_app=TENANT) == TENANT
    assert ws.tile_scope(board(TENANT), Filters(), None, embed_app=TENANT) == TENANT


def test_a_scoped_user_or_board_beats_the_filter(ws: Workspace, person: Person) -> None:
    assert ws.tile_scope(board(), Filters(app_id=OTHER_APP), person("viewer", TENANT)) == TENANT
    assert ws.tile_scope(board(TENANT), Filters(app_id=OTHER_APP), person()) == TENANT


@pytest.mark.parametrize(("board_app", "user_app", "embed_app"), [
    (OTHER_APP, TENANT, None),
    (OTHER_APP, None, TENANT),
    (None, OTHER_APP, TENANT),
    (TENANT, TENANT, OTHER_APP),
])
def test_conflicting_scopes_are_refused(ws: Workspace, person: Person, board_app: str | None,
                                        user_app: str | None, embed_app: str | None) -> None:
    with pytest.raises(AccessDenied) as caught:
        ws.tile_scope(board(board_app), Filters(), person("viewer", user_app), embed_app)
    assert caught.value.code == "forbidden" and caught.value.hint


def test_without_any_scope_the_filter_picks_the_app(ws: Workspace, person: Person) -> None:
    assert ws.tile_scope(board(), Filters(app_id=OTHER_APP), person()) == OTHER_APP
    assert ws.tile_scope(board(), Filters(), person()) is None
    assert ws.tile_scope(board(), Filters(app_id=TENANT), None) == TENANT


# -- run_tile -----------------------------------------------------------------------------

@pytest.fixture
def pin(ws: Workspace) -> Callable[..., Tile]:
    """`pin(sql, chart=None, insight=None)`: a tile on a fresh dashboard."""

    def make(sql: str, chart: ChartSpec | None = None, insight: str | None = None) -> Tile:
        owner = ws.dashboards.create("Tiles", "ann")
        return ws.dashboards.add_tile(owner.dashboard_id, title="Events by type", sql=sql,
                                      created_by="ann", chart=chart, insight=insight)

    return make


def test_a_tile_runs_and_gets_an_automatic_chart(ws: Workspace, pin: Callable[..., Tile],
                                                 person: Person) -> None:
    viewer = person("viewer")
    tile = pin(BY_TYPE)
    result = ws.run_tile(tile, Filters(), tenant=TENANT, actor=viewer.username)
    assert result.error is None and result.table is not None
    assert rows(result.table) == SHOP_BY_TYPE
    assert result.chart == ChartSpec(kind="bar", x="event_type", y=["n"])
    assert (result.cached, result.downsampled, result.tile) == (False, False, tile)
    assert result.seconds > 0
    [row] = audited(ws)
    assert (row["actor"], row["source"], row["question"], row["verdict"]) == (
        viewer.username, "dashboard", "Events by type", "ok")


def test_a_tile_keeps_a_chart_that_fits_and_replaces_one_that_does_not(
        ws: Workspace, pin: Callable[..., Tile], person: Person) -> None:
    table_chart = ChartSpec(kind="table", title="As a table")
    kept = ws.run_tile(pin(BY_TYPE, table_chart), Filters(), tenant=TENANT,
                       actor=person().username)
    assert kept.chart == table_chart
    stale = ChartSpec(kind="line", x="period", y=["value"])
    replaced = ws.run_tile(pin(BY_TYPE, stale), Filters(), tenant=TENANT,
                           actor=person().username)
    assert replaced.chart == ChartSpec(kind="bar", x="event_type", y=["n"])


def test_the_insight_kind_picks_the_chart(ws: Workspace, pin: Callable[..., Tile],
                                          person: Person) -> None:
    sql = ("SELECT event_type AS event, count(DISTINCT user_id) AS users FROM events "
           "WHERE event_type IN ('signup', 'activation') GROUP BY 1 ORDER BY 2 DESC")
    result = ws.run_tile(pin(sql, insight="funnel"), Filters(), tenant=TENANT,
                         actor=person().username)
    assert result.chart is not None and result.chart.kind == "funnel"


def test_the_second_render_is_cached_and_refresh_runs_again(
        ws: Workspace, pin: Callable[..., Tile], person: Person) -> None:
    tile, actor = pin(BY_TYPE), person().username
    first = ws.run_tile(tile, Filters(), tenant=TENANT, actor=actor)
    second = ws.run_tile(tile, Filters(), tenant=TENANT, actor=actor)
    assert (first.cached, second.cached) == (False, True)
    assert second.table is not None and rows(second.table) == SHOP_BY_TYPE
    assert second.chart == first.chart
    assert len(audited(ws)) == 1  # nothing ran for the cached render

    fresh = ws.run_tile(tile, Filters(), tenant=TENANT, actor=actor, refresh=True)
    assert fresh.cached is False and fresh.table is not None
    assert rows(fresh.table) == SHOP_BY_TYPE
    assert len(audited(ws)) == 2
    assert ws.run_tile(tile, Filters(), tenant=TENANT, actor=actor).cached is True


def test_refresh_clears_every_cached_tile(ws: Workspace, pin: Callable[..., Tile],
                                          person: Person) -> None:
    tile, actor = pin(BY_TYPE), person().username
    ws.run_tile(tile, Filters(), tenant=TENANT, actor=actor)
    ws.refresh()
    assert ws.run_tile(tile, Filters(), tenant=TENANT, actor=actor).cached is False
    assert len(audited(ws)) == 2


def test_another_tenant_is_another_cache_entry(ws: Workspace, pin: Callable[..., Tile],
                                               person: Person) -> None:
    tile, actor = pin(BY_TYPE), person().username
    shop = ws.run_tile(tile, Filters(), tenant=TENANT, actor=actor)
    news = ws.run_tile(tile, Filters(), tenant=OTHER_APP, actor=actor)
    everyone = ws.run_tile(tile, Filters(), tenant=None, actor=actor)
    assert (shop.cached, news.cached, everyone.cached) == (False, False, False)
    assert news.table is not None and rows(news.table) == NEWS_BY_TYPE
    assert everyone.table is not None and dict(rows(everyone.table))["signup"] == 9 + 1
    again = ws.run_tile(tile, Filters(), tenant=OTHER_APP, actor=actor)
    assert again.cached and again.table is not None and rows(again.table) == NEWS_BY_TYPE


def test_another_date_range_is_another_cache_entry(ws: Workspace, pin: Callable[..., Tile],
                                                   person: Person) -> None:
    tile, actor = pin(BY_TYPE), person().username
    whole = ws.run_tile(tile, Filters(), tenant=TENANT, actor=actor)
    days = ws.run_tile(tile, Filters(start=OCT5, end=OCT6), tenant=TENANT, actor=actor)
    later = ws.run_tile(tile, Filters(start=OCT6), tenant=TENANT, actor=actor)
    assert (whole.cached, days.cached, later.cached) == (False, False, False)
    assert days.table is not None and rows(days.table) == SHOP_5_TO_6
    assert later.table is not None
    assert sum(n for _, n in rows(later.table)) == 31 - 1 - 7  # all but 10-04 and 10-05
    again = ws.run_tile(tile, Filters(start=OCT5, end=OCT6), tenant=TENANT, actor=actor)
    assert again.cached and again.table is not None and rows(again.table) == SHOP_5_TO_6


def test_the_filters_app_is_not_a_cache_key_the_tenant_is(
        ws: Workspace, pin: Callable[..., Tile], person: Person) -> None:
    tile, actor = pin(BY_TYPE), person().username
    ws.run_tile(tile, Filters(app_id=OTHER_APP), tenant=TENANT, actor=actor)
    hit = ws.run_tile(tile, Filters(), tenant=TENANT, actor=actor)
    assert hit.cached and hit.table is not None and rows(hit.table) == SHOP_BY_TYPE


@pytest.mark.parametrize(("sql", "code"), [
    ("SELECT nope, count(*) AS n FROM events GROUP BY 1", "unknown_column"),
    ("SELECT count(*) FROM sessions", "unknown_table"),
    ("SELECT CAST(event_type AS integer) AS x FROM events", "query_failed"),
    ("DROP TABLE events", "not_read_only"),
    ("SELECT 'unterminated FROM events", "parse_error"),
])
def test_a_broken_tile_comes_back_as_an_error(ws: Workspace, pin: Callable[..., Tile],
                                              person: Person, sql: str, code: str) -> None:
    tile, actor = pin(sql), person().username
    result = ws.run_tile(tile, Filters(start=OCT5), tenant=TENANT, actor=actor)
    assert result.table is None and result.chart is None and result.cached is False
    assert result.error is not None
    assert result.error["code"] == code and result.error["message"] and result.error["hint"]
    again = ws.run_tile(tile, Filters(start=OCT5), tenant=TENANT, actor=actor)
    assert again.error == result.error and again.cached is False  # errors are not cached
    assert [r["verdict"] for r in audited(ws)] == [
        "error" if code == "query_failed" else "rejected"] * 2


def test_tiles_load_independently_on_threads(ws: Workspace, person: Person) -> None:
    owner = ws.dashboards.create("Six at once", "ann")
    by_app = "SELECT count(*) AS n FROM events"
    sqls = [BY_TYPE, by_app, "SELECT nope FROM events", BY_TYPE, by_app, BY_TYPE]
    tiles = [ws.dashboards.add_tile(owner.dashboard_id, title=f"tile {i}", sql=sql,
                                    created_by="ann") for i, sql in enumerate(sqls)]
    actor = person("viewer").username
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda t: ws.run_tile(t, Filters(), tenant=TENANT,
                                                      actor=actor), tiles))
    assert [r.tile for r in results] == tiles
    assert results[2].error is not None and results[2].error["code"] == "unknown_column"
    for i in (0, 3, 5):
        assert results[i].table is not None and rows(results[i].table) == SHOP_BY_TYPE
    for i in (1, 4):
        assert results[i].table is not None and rows(results[i].table) == [(31,)]
    assert sorted(r["question"] for r in audited(ws)) == sorted(t.title for t in tiles)


def test_ttl_zero_never_caches(engine: DuckDBEngine, db: SqlEngine, tmp_path: Path,
                               person: Person) -> None:
    ws = make_ws(engine, db, tmp_path, workspace={"cache_ttl_s": 0})
    owner = ws.dashboards.create("Live", "ann")
    tile = ws.dashboards.add_tile(owner.dashboard_id, title="t", sql=BY_TYPE, created_by="ann")
    actor = person().username
    results = [ws.run_tile(tile, Filters(), tenant=TENANT, actor=actor) for _ in range(3)]
    assert [r.cached for r in results] == [False, False, False]
    assert len(audited(ws)) == 3
    assert ws.cache.entries == {}


def test_an_embed_render_is_audited_as_embed(ws: Workspace, pin: Callable[..., Tile]) -> None:
    ws.run_tile(pin(BY_TYPE), Filters(), tenant=TENANT, actor="embed:abc", source="embed")
    [row] = audited(ws)
    assert (row["actor"], row["source"]) == ("embed:abc", "embed")


# -- context and ask ----------------------------------------------------------------------

def test_context_is_cached_per_scope(ws: Workspace, person: Person) -> None:
    actor = person().username
    first = ws.context(TENANT, actor)
    written = len(audited(ws))
    assert written > 0
    assert all(r["actor"] == actor for r in audited(ws))
    assert ws.context(TENANT, person().username) is first
    assert len(audited(ws)) == written
    news = ws.context(OTHER_APP, actor)
    assert news is not first and len(audited(ws)) > written
    assert "page" in first.event_types and "page" not in news.event_types
    assert OTHER_APP not in str(first.catalog.samples)


def test_ask_answers_as_the_user_in_their_scope(engine: DuckDBEngine, db: SqlEngine,
                                                tmp_path: Path, person: Person) -> None:
    script = ScriptedModel("trend_plan")
    ws = Workspace(load_settings(data_dir=tmp_path), engine=engine, db=db,
                   planner=anthropic_planner(script))
    sam = person("analyst", TENANT)
    answer = ws.ask("How many events per day?", Session(app_id=TENANT, actor=sam.username),
                    sam)
    assert [r["value"] for r in answer.table.to_pylist()] == [7, 8, 6]
    assert f"app_id = '{TENANT}'" in answer.sql
    rows_ = audited(ws)
    assert rows_ and all(r["actor"] == sam.username and r["source"] == "chat" for r in rows_)
    assert ws.chats.load(answer.chat_id or "").turns[0].ok


def test_ask_needs_an_analyst_and_their_own_scope(engine: DuckDBEngine, db: SqlEngine,
                                                  tmp_path: Path, person: Person) -> None:
    script = ScriptedModel("trend_plan")
    ws = Workspace(load_settings(data_dir=tmp_path), engine=engine, db=db,
                   planner=anthropic_planner(script))
    with pytest.raises(AccessDenied):
        ws.ask("events?", Session(), person("viewer"))
    with pytest.raises(AccessDenied):
        ws.ask("events?", Session(app_id=OTHER_APP), person("analyst", TENANT))
    assert script.requests == [] and audited(ws) == []


def test_without_a_model_the_status_says_how_to_set_one(ws: Workspace) -> None:
    ready, text = ws.llm_status()
    assert ready is False and "CAUSALITY_LLM" in text
