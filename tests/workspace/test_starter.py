"""Starter content (`workspace.starter`): the common path found from hand-made events, the
Overview made once per app (also by threads at once), its tiles run on demo data, and example
questions that name only the catalog's event types. No name is written into the module."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy.engine import Engine as SqlEngine

import workspace.starter as starter_module
from causality.settings import load_settings
from tests.workspace.events_fixture import TENANT
from warehouse.demo import EVENT_TYPES, generate_and_write, write
from warehouse.engines.duckdb_engine import DuckDBEngine
from warehouse.schema import EVENTS_SCHEMA
from workspace.filters import Filters
from workspace.service import Workspace
from workspace.starter import (
    OWNER,
    AppFacts,
    apps_with_events,
    ensure_overview,
    ensure_overviews,
    example_questions,
    overview_name,
    read_facts,
    runner,
)

# (app, user, event_type, "MM-DD HH:MM" in March 2026 UTC). In "path", "browse" is everyday:
# each of its 4 people browses on 3 days (12 person-days > 2 × 4), so the path leaves it out.
# First times without it: u1 join, verify, pay; u2 join, verify, pay; u3 verify, join, pay;
# u4 join, pay, verify. So join → verify → pay (2 people) beats the others (1 each). With
# browse kept, browse → join → verify would win (u1, u2), as it comes first every day.
HAND: list[tuple[str, str, str, str]] = [
    *[("path", u, "browse", f"03-0{d} 08:00") for u in ("u1", "u2", "u3", "u4") for d in (2, 3, 4)],
    ("path", "u1", "join", "03-02 10:00"), ("path", "u1", "verify", "03-03 10:00"),
    ("path", "u1", "pay", "03-04 10:00"), ("path", "u1", "join", "03-04 11:00"),
    ("path", "u2", "join", "03-02 09:00"), ("path", "u2", "verify", "03-02 09:30"),
    ("path", "u2", "pay", "03-03 09:00"),
    ("path", "u3", "verify", "03-02 09:00"), ("path", "u3", "join", "03-02 09:10"),
    ("path", "u3", "pay", "03-02 09:20"),
    ("path", "u4", "join", "03-02 09:00"), ("path", "u4", "pay", "03-02 09:10"),
    ("path", "u4", "verify", "03-02 09:20"),
    # "few": browse is everyday again (2 people × 3 days); without it only join and pay are
    # left, too few for a path, so every type counts: v1 and v2 browse → join → pay.
    *[("few", u, "browse", f"03-0{d} 08:00") for u in ("v1", "v2") for d in (2, 3, 4)],
    ("few", "v1", "join", "03-02 09:00"), ("few", "v1", "pay", "03-02 10:00"),
    ("few", "v2", "join", "03-03 09:00"), ("few", "v2", "pay", "03-04 10:00"),
    # "solo": one event type, not enough for an Overview yet.
    ("solo", "w1", "ping", "03-02 08:00"), ("solo", "w2", "ping", "03-03 08:00"),
]


def _table(rows: list[tuple[str, str, str, str]]) -> pa.Table:
    cols: dict[str, list[object]] = {name: [] for name in EVENTS_SCHEMA.names}
    for i, (app, user, event_type, when) in enumerate(rows):
        at = datetime.strptime(f"2026-{when}", "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
        values = {"event_id": f"h{i:03d}", "event_type": event_type, "category": "track",
                  "user_id": user, "anonymous_id": f"a-{user}", "session_id": f"s-{user}",
                  "event_time": at, "received_at": at, "properties": json.dumps({}),
                  "context": json.dumps({}), "app_id": app, "dt": f"{at:%Y-%m-%d}",
                  "hour": f"{at:%H}"}
        for name, value in values.items():
            cols[name].append(value)
    return pa.Table.from_pydict(cols, schema=EVENTS_SCHEMA)


@pytest.fixture(scope="module")
def hand_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DuckDBEngine]:
    root = tmp_path_factory.mktemp("starter-hand")
    write(_table(HAND), root)
    engine = DuckDBEngine(root, memory_limit="1GB")
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def demo_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DuckDBEngine]:
    root = tmp_path_factory.mktemp("starter-demo")
    generate_and_write(20_000, root, seed=7, end=date(2026, 11, 20))
    engine = DuckDBEngine(root, memory_limit="1GB")
    yield engine
    engine.close()


def _ws(engine: DuckDBEngine, db: SqlEngine, tmp_path: Path) -> Workspace:
    return Workspace(load_settings(data_dir=tmp_path), engine=engine, db=db)


def test_the_path_leaves_everyday_events_out(hand_engine: DuckDBEngine, db: SqlEngine,
                                            tmp_path: Path) -> None:
    ws = _ws(hand_engine, db, tmp_path)
    facts = read_facts(runner(ws, "path"), "path")
    assert facts.event_types[0] == "browse"  # 12 of 25 events
    assert (facts.first_day, facts.last_day) == (date(2026, 3, 2), date(2026, 3, 4))
    assert facts.path == ("join", "verify", "pay")


def test_the_path_keeps_everyday_events_when_too_few_remain(
        hand_engine: DuckDBEngine, db: SqlEngine, tmp_path: Path) -> None:
    ws = _ws(hand_engine, db, tmp_path)
    assert read_facts(runner(ws, "few"), "few").path == ("browse", "join", "pay")


def test_an_app_with_one_event_type_gets_no_overview_yet(
        hand_engine: DuckDBEngine, db: SqlEngine, tmp_path: Path) -> None:
    ws = _ws(hand_engine, db, tmp_path)
    assert ensure_overview(ws, "solo") is None
    assert ws.dashboards.list("solo") == []
    few = ensure_overview(ws, "few")  # two types: an Overview, with a funnel of its path
    assert few is not None
    assert [t.insight for t in ws.dashboards.tiles(few.dashboard_id)] == [
        "trend", "trend", "top_events", "funnel", "retention"]


def test_ensure_overview_twice_makes_one(engine: DuckDBEngine, db: SqlEngine,
                                        tmp_path: Path) -> None:
    ws = _ws(engine, db, tmp_path)
    first = ensure_overview(ws, TENANT)
    assert first is not None
    assert (first.name, first.owner, first.app_id) == (overview_name(TENANT), OWNER, TENANT)
    assert ensure_overview(ws, TENANT) == first
    assert [b.dashboard_id for b in ws.dashboards.list(TENANT)] == [first.dashboard_id]


def test_ensure_overview_from_threads_at_once_makes_one(engine: DuckDBEngine, db: SqlEngine,
                                                       tmp_path: Path) -> None:
    ws = _ws(engine, db, tmp_path)
    with ThreadPoolExecutor(4) as pool:
        boards = list(pool.map(lambda _: ensure_overview(ws, TENANT), range(4)))
    assert len({b.dashboard_id for b in boards if b is not None}) == 1
    assert len(ws.dashboards.list(TENANT)) == 1
    assert len(ws.dashboards.tiles(ws.dashboards.list(TENANT)[0].dashboard_id)) == 5


def test_every_overview_tile_runs_on_demo_data(demo_engine: DuckDBEngine, db: SqlEngine,
                                              tmp_path: Path) -> None:
    ws = _ws(demo_engine, db, tmp_path)
    apps = apps_with_events(ws)
    boards = ensure_overviews(ws)
    assert sorted(b.app_id or "" for b in boards) == apps and len(apps) == 3
    for board in boards:
        tiles = ws.dashboards.tiles(board.dashboard_id)
        assert [t.insight for t in tiles] == [
            "trend", "trend", "top_events", "funnel", "retention"]
        for tile in tiles:
            result = ws.run_tile(tile, Filters(), tenant=board.app_id, actor="tester")
            assert result.error is None, (tile.title, result.error)
            assert result.table is not None and result.table.num_rows > 0, tile.title
            assert result.chart is not None and result.chart == tile.chart


def test_example_questions_name_only_catalog_event_types(engine: DuckDBEngine,
                                                         db: SqlEngine,
                                                         tmp_path: Path) -> None:
    ws = _ws(engine, db, tmp_path)
    facts = read_facts(runner(ws, TENANT, actor="ann", source="chat"), TENANT)
    asked = example_questions(facts)
    assert len(asked) == 3
    known = set(engine.catalog().samples["events"]["event_type"])
    named = [facts.event_types[0], *(facts.path or ())]
    assert named and set(named) <= known
    # shop (events_fixture): page has the most events (10), on 9 days of 5 people, not
    # everyday. First times: signup → activation → purchase for u1 and u3, signup →
    # activation → page for u2 and u8, every other triple once; the tie goes by name.
    assert asked[0] == "How many page per day in the last 30 days?"
    assert facts.path == ("signup", "activation", "page")
    assert asked[2] == "Funnel from signup to activation to page within 14 days"
    assert example_questions(AppFacts(None, [])) == []


def test_no_event_name_is_written_into_the_starter_module() -> None:
    source = Path(starter_module.__file__).read_text()
    literals = [node.value for node in ast.walk(ast.parse(source))
                if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    for name in EVENT_TYPES:
        assert not [text for text in literals if f"'{name}'" in text or text == name], name
        assert f'"{name}"' not in source and f"'{name}'" not in source, name
