"""Dashboards and tiles in the metadata store (SQLite on disk, a fresh file per test)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine as SqlEngine

from causality.errors import CausalityError
from charts import ChartSpec
from metadata.dashboards import (
    MAX_TILES,
    NAME_CHARS,
    DashboardStore,
    UnknownDashboard,
)
from metadata.embeds import EmbedLinks, EmbedRefused
from metadata.errors import MetadataError
from tests.workspace.events_fixture import OTHER_APP, TENANT

SQL = "SELECT event_type, count(*) AS n FROM events GROUP BY 1"
CHARTS = [
    ChartSpec(kind="bar", x="event_type", y=["n"], title="Events by type"),
    ChartSpec(kind="line", x="period", y=["value", "users"], series="breakdown"),
    ChartSpec(kind="retention_heatmap", x="period", y=["retention"], series="cohort"),
    ChartSpec(kind="number", y=["dau"]),
    ChartSpec(kind="table"),
]


@pytest.fixture
def store(db: SqlEngine) -> DashboardStore:
    return DashboardStore(db)


def test_create_then_get_and_list(store: DashboardStore) -> None:
    before = datetime.now(UTC)
    board = store.create("  Growth  ", "ann")
    assert board.name == "Growth" and board.owner == "ann" and board.app_id is None
    assert before <= board.created_at <= datetime.now(UTC)
    again = store.get(board.dashboard_id)
    assert again == board
    assert again.created_at.tzinfo is not None
    assert store.list() == [board]


def test_boards_persist_for_another_store_on_the_same_database(db: SqlEngine) -> None:
    board = DashboardStore(db).create("Retention", "ann", app_id=TENANT)
    assert DashboardStore(db).get(board.dashboard_id) == board


def test_list_is_in_creation_order(store: DashboardStore) -> None:
    names = ["first", "second", "third"]
    ids = [store.create(n, "ann").dashboard_id for n in names]
    assert [b.dashboard_id for b in store.list()] == ids


def test_listing_by_app_shows_only_that_apps_boards(store: DashboardStore) -> None:
    shop = store.create("Shop KPIs", "ann", app_id=TENANT)
    news = store.create("News KPIs", "ann", app_id=OTHER_APP)
    everyone = store.create("All apps", "ann")
    assert store.list(TENANT) == [shop]
    assert store.list(OTHER_APP) == [news]
    assert store.list("fitness") == []
    assert store.list() == [shop, news, everyone]


def test_a_name_is_required_and_kept_short(store: DashboardStore) -> None:
    with pytest.raises(MetadataError) as caught:
        store.create("   ", "ann")
    assert caught.value.code == "bad_dashboard_name" and caught.value.hint
    long = store.create("x" * (NAME_CHARS + 50), "ann")
    assert long.name == "x" * NAME_CHARS


def test_a_bad_app_scope_is_refused(store: DashboardStore) -> None:
    with pytest.raises(CausalityError) as caught:
        store.create("Evil", "ann", app_id="shop' OR 1=1 --")
    assert caught.value.code == "bad_app_id"
    assert store.list() == []


def test_rename(store: DashboardStore) -> None:
    board = store.create("Old", "ann", app_id=TENANT)
    renamed = store.rename(board.dashboard_id, "  New name ")
    assert renamed.name == "New name"
    assert (renamed.dashboard_id, renamed.owner, renamed.app_id) == (
        board.dashboard_id, board.owner, board.app_id)
    assert store.get(board.dashboard_id).name == "New name"
    assert len(store.rename(board.dashboard_id, "y" * 500).name) == NAME_CHARS


@pytest.mark.parametrize("action", ["get", "rename", "delete", "add_tile"])
def test_an_unknown_dashboard_has_its_own_code(store: DashboardStore, action: str) -> None:
    calls = {
        "get": lambda: store.get("nope"),
        "rename": lambda: store.rename("nope", "x"),
        "delete": lambda: store.delete("nope"),
        "add_tile": lambda: store.add_tile("nope", title="t", sql=SQL, created_by="ann"),
    }
    with pytest.raises(UnknownDashboard) as caught:
        calls[action]()
    assert caught.value.code == "unknown_dashboard"
    assert "nope" in caught.value.message and caught.value.hint


def test_an_unknown_tile_has_its_own_code(store: DashboardStore) -> None:
    with pytest.raises(MetadataError) as caught:
        store.remove_tile("nope")
    assert caught.value.code == "unknown_tile" and caught.value.hint


@pytest.mark.parametrize("chart", [*CHARTS, None])
def test_a_tile_keeps_its_chart_spec(store: DashboardStore, chart: ChartSpec | None) -> None:
    board = store.create("Charts", "ann")
    tile = store.add_tile(board.dashboard_id, title="A tile", sql=SQL, created_by="ann",
                          chart=chart, question="what happened?", insight="trend")
    [stored] = store.tiles(board.dashboard_id)
    assert stored == tile
    assert stored.chart == chart
    assert (stored.sql, stored.question, stored.insight, stored.created_by) == (
        SQL, "what happened?", "trend", "ann")


def test_tiles_come_back_in_seq_order_and_seq_is_never_reused(store: DashboardStore) -> None:
    board = store.create("Order", "ann")
    first, second, third = (store.add_tile(board.dashboard_id, title=t, sql=SQL,
                                           created_by="ann") for t in ("a", "b", "c"))
    assert [t.seq for t in (first, second, third)] == [1, 2, 3]
    store.remove_tile(second.tile_id)
    fourth = store.add_tile(board.dashboard_id, title="d", sql=SQL, created_by="ann")
    assert fourth.seq == 4
    assert [t.title for t in store.tiles(board.dashboard_id)] == ["a", "c", "d"]
    store.remove_tile(fourth.tile_id)
    assert store.add_tile(board.dashboard_id, title="e", sql=SQL, created_by="ann").seq == 4


def test_tiles_belong_to_their_own_dashboard(store: DashboardStore) -> None:
    one, two = store.create("One", "ann"), store.create("Two", "ann")
    store.add_tile(one.dashboard_id, title="only in one", sql=SQL, created_by="ann")
    assert store.tiles(two.dashboard_id) == []
    assert store.add_tile(two.dashboard_id, title="t", sql=SQL, created_by="ann").seq == 1


def test_a_tile_title_falls_back_to_the_question(store: DashboardStore) -> None:
    board = store.create("Titles", "ann")
    asked = store.add_tile(board.dashboard_id, title="  ", sql=SQL, created_by="ann",
                           question="Events per type?")
    bare = store.add_tile(board.dashboard_id, title="", sql=SQL, created_by="ann")
    long = store.add_tile(board.dashboard_id, title="t" * 999, sql=SQL, created_by="ann")
    assert (asked.title, bare.title, len(long.title)) == ("Events per type?", "untitled",
                                                          NAME_CHARS)


def test_a_dashboard_holds_at_most_max_tiles(store: DashboardStore) -> None:
    board = store.create("Full", "ann")
    for i in range(MAX_TILES):
        store.add_tile(board.dashboard_id, title=f"t{i}", sql=SQL, created_by="ann")
    with pytest.raises(MetadataError) as caught:
        store.add_tile(board.dashboard_id, title="one too many", sql=SQL, created_by="ann")
    assert caught.value.code == "too_many_tiles" and caught.value.hint
    assert len(store.tiles(board.dashboard_id)) == MAX_TILES
    store.remove_tile(store.tiles(board.dashboard_id)[0].tile_id)
    assert store.add_tile(board.dashboard_id, title="fits again", sql=SQL,
                          created_by="ann").seq == MAX_TILES + 1


def test_delete_removes_the_board_and_its_tiles_only(store: DashboardStore) -> None:
    gone, kept = store.create("Gone", "ann"), store.create("Kept", "ann")
    store.add_tile(gone.dashboard_id, title="t", sql=SQL, created_by="ann")
    kept_tile = store.add_tile(kept.dashboard_id, title="t", sql=SQL, created_by="ann")
    store.delete(gone.dashboard_id)
    with pytest.raises(UnknownDashboard):
        store.get(gone.dashboard_id)
    assert store.tiles(gone.dashboard_id) == []
    assert store.list() == [kept]
    assert store.tiles(kept.dashboard_id) == [kept_tile]


def test_delete_revokes_the_boards_embed_links(db: SqlEngine, store: DashboardStore) -> None:
    links = EmbedLinks(db)
    board, other = store.create("Shared", "ann"), store.create("Other", "ann")
    _, token = links.create(board.dashboard_id, TENANT, timedelta(days=1), "ann")
    early, _ = links.create(board.dashboard_id, OTHER_APP, timedelta(days=1), "ann")
    early = links.revoke(early.link_id)
    _, other_token = links.create(other.dashboard_id, TENANT, timedelta(days=1), "ann")
    assert links.verify(token).dashboard_id == board.dashboard_id

    before = datetime.now(UTC)
    store.delete(board.dashboard_id)
    after = datetime.now(UTC)
    revoked = {link.link_id: link for link in links.list(board.dashboard_id)}
    assert len(revoked) == 2
    assert all(link.revoked_at is not None for link in revoked.values())
    assert revoked[early.link_id].revoked_at == early.revoked_at  # first revocation kept
    fresh = [link for link in revoked.values() if link.link_id != early.link_id]
    assert fresh[0].revoked_at is not None and before <= fresh[0].revoked_at <= after
    with pytest.raises(EmbedRefused) as caught:
        links.verify(token)
    assert caught.value.code == "embed_revoked"
    assert links.verify(other_token).dashboard_id == other.dashboard_id
    assert [link.revoked_at for link in links.list(other.dashboard_id)] == [None]
