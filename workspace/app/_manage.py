"""Changing dashboards (analysts): create, rename, delete; and exporting one as a notebook."""

from __future__ import annotations

import re

import streamlit as st

from causality.errors import CausalityError
from metadata.dashboards import Dashboard
from metadata.users import User
from workspace.app._boards import can_manage
from workspace.app._look import plain
from workspace.app._results import show_error
from workspace.app._scope import pick_scope
from workspace.filters import Filters
from workspace.notebooks import NotebookQuery, notebook_source
from workspace.queries import restrict_dates
from workspace.service import Workspace

_SLUG = re.compile(r"[^a-z0-9]+")


def create_form(ws: Workspace, user: User) -> None:
    """A form for a new dashboard; on success the URL points at it."""
    with st.form("new_dashboard", clear_on_submit=True, border=False):
        name = st.text_input("Name", key="new_dashboard_name", placeholder="Weekly growth")
        app = pick_scope(ws, user, "new_dashboard_app", label="Only for app")
        if not st.form_submit_button("Create dashboard", key="new_dashboard_submit",
                                     icon=":material/add:"):
            return
    try:
        board = ws.dashboards.create(name, owner=user.username, app_id=app)
    except CausalityError as err:
        show_error(err)
        return
    st.query_params.from_dict({"d": board.dashboard_id})
    st.rerun()


def edit_form(ws: Workspace, user: User, board: Dashboard) -> None:
    """Rename or delete ``board`` (only someone who may manage it sees this)."""
    if not can_manage(user, board):
        st.caption(f"Only analysts of app {plain(board.app_id)} change this dashboard.")
        return
    name = st.text_input("Rename to", value=board.name, key=f"rename-{board.dashboard_id}")
    try:
        if st.button("Rename", key="rename_dashboard") and name.strip() != board.name:
            ws.dashboards.rename(board.dashboard_id, name)
            st.rerun()
        sure = st.checkbox("Yes, delete this dashboard, its tiles and its embed links",
                           key=f"confirm-delete-{board.dashboard_id}")
        if st.button("Delete dashboard", key="delete_dashboard", disabled=not sure,
                     icon=":material/delete:"):
            ws.dashboards.delete(board.dashboard_id)
            st.query_params.clear()
            st.rerun()
    except CausalityError as err:  # e.g. someone else deleted it a moment ago
        show_error(err)


def notebook_button(ws: Workspace, board: Dashboard, filters: Filters,
                    tenant: str | None) -> None:
    """Download the dashboard as a marimo notebook re-running the same guarded queries."""
    tiles = ws.dashboards.tiles(board.dashboard_id)
    if not tiles:
        return
    queries = [NotebookQuery(title=t.title, sql=restrict_dates(t.sql, filters.start, filters.end),
                             chart=t.chart, insight=t.insight) for t in tiles]
    try:
        source = notebook_source(board.name, queries, app_id=tenant)
    except CausalityError as err:
        st.caption(f"No notebook: {plain(err.message)}")
        return
    st.download_button("Notebook", data=source, file_name=f"{slug(board.name)}.py",
                       mime="text/x-python", key="download_notebook",
                       icon=":material/download:", on_click="ignore",
                       help="A marimo notebook that re-runs these tiles' queries")


def slug(name: str) -> str:
    return _SLUG.sub("-", name.lower()).strip("-")[:60] or "dashboard"
