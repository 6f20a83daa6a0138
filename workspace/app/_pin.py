"""Pin a result to a dashboard: an existing one the user may use, or a new one."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from causality.errors import CausalityError
from charts import ChartSpec
from metadata.dashboards import Dashboard, Tile
from metadata.users import User
from workspace.app._look import plain
from workspace.app._results import show_error
from workspace.errors import AccessDenied
from workspace.service import Workspace

NEW_BOARD = "__new__"


@dataclass(frozen=True)
class Pinnable:
    """What a tile keeps: the SQL that ran (Trino), how to draw it, where it came from."""

    sql: str
    chart: ChartSpec | None
    question: str
    insight: str | None
    scope: str | None


def usable_dashboards(ws: Workspace, user: User, scope: str | None) -> list[Dashboard]:
    """Dashboards a result run under `scope` may go to: unscoped ones, and those of the
    result's app (for a scoped user, always their own app)."""
    app = user.app_id if user.app_id is not None else scope
    return [board for board in ws.dashboards.list() if board.app_id in (None, app)]


def pin(ws: Workspace, user: User, item: Pinnable, *, dashboard_id: str | None,
        new_name: str = "", title: str = "") -> tuple[Dashboard, Tile]:
    """Add `item` as a tile; with no `dashboard_id`, to a new dashboard named `new_name`."""
    ws.require(user, "analyst")
    if dashboard_id is None:
        board = ws.dashboards.create(new_name, owner=user.username,
                                     app_id=user.app_id if user.app_id is not None
                                     else item.scope)
    else:
        board = ws.dashboards.get(dashboard_id)
        usable = {b.dashboard_id for b in usable_dashboards(ws, user, item.scope)}
        if board.dashboard_id not in usable:
            raise AccessDenied(f"you cannot pin to dashboard {board.name!r}",
                               hint="pick a dashboard of the same app, or start a new one")
    tile = ws.dashboards.add_tile(board.dashboard_id, title=title or item.question,
                                  sql=item.sql, chart=item.chart, question=item.question,
                                  insight=item.insight, created_by=user.username)
    return board, tile


def pin_control(ws: Workspace, user: User, item: Pinnable, key: str) -> None:
    """A 'Pin to dashboard' popover: pick or name a dashboard, give the tile a title."""
    with st.popover("Pin to dashboard", icon=":material/push_pin:"):
        boards = usable_dashboards(ws, user, item.scope)
        names = {board.dashboard_id: _label(board) for board in boards}
        choice = st.selectbox("Dashboard", [*names, NEW_BOARD], key=f"{key}-board",
                              format_func=lambda b: names.get(b, "New dashboard…"))
        new_name = ""
        if choice == NEW_BOARD:
            new_name = st.text_input("Name of the new dashboard", key=f"{key}-new",
                                     placeholder="e.g. Weekly growth")
        title = st.text_input("Tile title", value=item.question[:200], key=f"{key}-title")
        if st.button("Pin", key=f"{key}-pin", type="primary"):
            if choice == NEW_BOARD and not new_name.strip():
                st.warning("Give the new dashboard a name.")
                return
            try:
                board, tile = pin(ws, user, item,
                                  dashboard_id=None if choice == NEW_BOARD else choice,
                                  new_name=new_name, title=title)
            except CausalityError as err:
                show_error(err)
            else:
                st.success(f"Pinned “{plain(tile.title)}” to {plain(board.name)}.")


def _label(board: Dashboard) -> str:
    return board.name if board.app_id is None else f"{board.name} ({board.app_id})"
