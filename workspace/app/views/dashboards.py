"""Dashboards: pinned answers as a grid of tiles; the dashboard and its filters live in the URL,
so a link reproduces the view."""

from __future__ import annotations

from datetime import date

import streamlit as st

from causality.errors import CausalityError
from workspace.app._boards import can_manage, label, read_view, view_params, visible_dashboards
from workspace.app._context import page_context
from workspace.app._look import plain
from workspace.app._manage import create_form, edit_form, notebook_button
from workspace.app._results import show_error
from workspace.app._scope import ALL_APPS, known_apps
from workspace.app._starter import ensure_starter_dashboards
from workspace.app._tiles import TileRun, render_tiles
from workspace.filters import Filters

ctx = page_context("viewer")
ws, user = ctx.ws, ctx.user
analyst = user.can("analyst")

view = read_view(st.query_params.to_dict(), user)
ensure_starter_dashboards(ws, user)
boards = visible_dashboards(ws, user)
st.title("Dashboards")
for problem in view.problems:
    st.warning(problem, icon=":material/link_off:")

if not boards:
    st.info("There are no dashboards yet." + (
        " Create one here, then pin answers to it from the Chat page." if analyst
        else " Ask an analyst to make one."))
    if analyst:
        create_form(ws, user)
    st.stop()

by_id = {b.dashboard_id: b for b in boards}
if view.dashboard_id is not None and view.dashboard_id not in by_id:
    st.warning("The dashboard in the link does not exist or is not yours to see; "
               "showing the first one.", icon=":material/link_off:")
wanted = view.dashboard_id if view.dashboard_id in by_id else boards[0].dashboard_id
picked = st.selectbox("Dashboard", list(by_id), index=list(by_id).index(wanted),
                      format_func=lambda d: label(by_id[d]))
board = by_id[picked]


def _filter_bar(current: Filters) -> tuple[Filters, bool]:
    """The filter widgets, seeded from the URL; and whether Refresh was pressed."""
    first, last, app_col, tools = st.columns([1, 1, 1, 1.4], vertical_alignment="bottom")
    start: date | None = first.date_input("From", value=current.start, format="YYYY-MM-DD")
    end: date | None = last.date_input("To", value=current.end, format="YYYY-MM-DD")
    app = current.app_id
    if user.app_id is None and board.app_id is None:
        apps: list[str | None] = [None, *known_apps(ws)]
        if app not in apps:
            apps.append(app)
        app = app_col.selectbox("App", apps, index=apps.index(app),
                                format_func=lambda a: ALL_APPS if a is None else a)
    else:
        app_col.text_input("App", value=board.app_id or user.app_id or "", disabled=True,
                           help="This dashboard (or your account) is limited to one app")
    refresh = tools.button("Refresh", key="refresh_board", icon=":material/refresh:",
                           help="Run every tile again instead of using cached results")
    try:
        return Filters(start, end, app), refresh
    except CausalityError as err:
        show_error(err)
        return Filters(app_id=app), refresh


filters, refresh = _filter_bar(view.filters)
wanted_params = view_params(board, filters)
if st.query_params.to_dict() != wanted_params:
    st.query_params.from_dict(wanted_params)

try:
    tenant = ws.tile_scope(board, filters, user)
except CausalityError as err:
    show_error(err)
    st.stop()
if board.app_id is not None and filters.app_id not in (None, board.app_id):
    st.info(f"This dashboard always shows app {plain(board.app_id)}.")

render_tiles(ws, ws.dashboards.tiles(board.dashboard_id), TileRun(
    filters, tenant, actor=user.username, source="dashboard",
    refresh=refresh, removable=can_manage(user, board)))

if analyst:
    st.divider()
    export, change, new = st.columns(3)
    with export:
        st.markdown("**Export**")
        notebook_button(ws, board, filters, tenant)
    with change, st.expander("Rename or delete"):
        edit_form(ws, user, board)
    with new, st.expander("New dashboard"):
        create_form(ws, user)
