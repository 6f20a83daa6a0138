"""`DashboardStore.find` and `create_once`: a named dashboard made exactly once, with its tiles,
even by several threads at once (each with its own connection), on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

from sqlalchemy.engine import Engine as SqlEngine

from charts import ChartSpec
from metadata.dashboards import DashboardStore, TileDraft

DRAFTS = [TileDraft(title="Events", sql="SELECT 1 AS n", insight="trend",
                    chart=ChartSpec(kind="number", y=["n"]), question="How many?"),
          TileDraft(title="Types", sql="SELECT 2 AS n")]
THREADS = 6


def test_find_matches_name_app_and_owner(db: SqlEngine) -> None:
    store = DashboardStore(db)
    mine = store.create("Overview", "causality", app_id="shop")
    store.create("Overview", "ann", app_id="shop")
    store.create("Overview", "causality")
    assert store.find("Overview", "shop", "causality") == mine
    assert store.find(" Overview ", "shop", "causality") == mine  # stored stripped
    assert store.find("Overview", "news", "causality") is None
    assert store.find("Overview", None, "causality") not in (None, mine)
    assert store.find("Other", "shop", "causality") is None


def test_create_once_makes_the_dashboard_and_its_tiles_once(db: SqlEngine) -> None:
    store = DashboardStore(db)
    board, made = store.create_once("Overview — shop", "causality", "shop", DRAFTS)
    again, made_again = store.create_once("Overview — shop", "causality", "shop", DRAFTS[:1])
    assert made and not made_again and again == board
    assert board.owner == "causality" and board.app_id == "shop"
    tiles = store.tiles(board.dashboard_id)
    assert [(t.seq, t.title, t.sql, t.insight, t.created_by) for t in tiles] == [
        (1, "Events", "SELECT 1 AS n", "trend", "causality"),
        (2, "Types", "SELECT 2 AS n", None, "causality")]
    assert tiles[0].chart == DRAFTS[0].chart and tiles[0].question == "How many?"
    assert len(store.list("shop")) == 1


def test_threads_at_once_make_one_dashboard(db: SqlEngine) -> None:
    start = Barrier(THREADS)

    def make(_: int) -> tuple[str, bool]:
        store = DashboardStore(db)  # the pool gives each thread its own connection
        start.wait(timeout=30)
        board, made = store.create_once("Overview — news", "causality", "news", DRAFTS)
        return board.dashboard_id, made

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(make, range(THREADS)))
    assert len({board for board, _ in results}) == 1
    assert sum(made for _, made in results) == 1
    store = DashboardStore(db)
    assert len(store.list("news")) == 1
    assert len(store.tiles(results[0][0])) == len(DRAFTS)
