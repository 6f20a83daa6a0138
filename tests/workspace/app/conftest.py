"""AppTest helpers: a `Workspace` over the hand-built warehouse, people of each role, and an
`app(user)` factory that injects both into session state before the first run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy.engine import Engine as SqlEngine
from streamlit.testing.v1 import AppTest

from causality.settings import load_settings
from charts import ChartSpec
from metadata.dashboards import Dashboard
from metadata.users import User
from tests.workspace.events_fixture import TENANT
from warehouse.engines.duckdb_engine import DuckDBEngine
from workspace.app._context import USER_KEY, WORKSPACE_KEY
from workspace.service import Workspace

MAIN = Path(__file__).resolve().parents[3] / "workspace" / "app" / "main.py"
TIMEOUT_S = 60.0  # a cold first run imports plotly, pyarrow, duckdb and sqlglot
PASSWORD = "correct horse battery staple"
PER_APP_SQL = "SELECT app_id, count(*) AS n FROM events GROUP BY app_id ORDER BY app_id"
PER_TYPE_SQL = ("SELECT event_type, count(*) AS n FROM events GROUP BY event_type "
                "ORDER BY event_type")


@pytest.fixture(autouse=True)
def _fresh_streamlit_caches() -> Iterator[None]:
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def ws(engine: DuckDBEngine, db: SqlEngine, tmp_path: Path) -> Workspace:
    # no Overviews or example questions: the tests count the dashboards and queries they make
    settings = load_settings(data_dir=tmp_path, workspace={"starter_content": False})
    return Workspace(settings, engine=engine, db=db)


@pytest.fixture
def people(ws: Workspace) -> dict[str, User]:
    """admin, analyst, viewer (all apps) and `scoped`, an analyst who sees only TENANT."""
    return {
        "admin": ws.users.add("ada", PASSWORD, "admin"),
        "analyst": ws.users.add("ann", PASSWORD, "analyst"),
        "viewer": ws.users.add("vic", PASSWORD, "viewer"),
        "scoped": ws.users.add("sam", PASSWORD, "analyst", app_id=TENANT),
    }


@pytest.fixture
def app(ws: Workspace) -> Callable[..., AppTest]:
    """`app(user)` (or `app(None)` for a signed-out visitor), not yet run."""

    def make(user: User | None, page: str | None = None) -> AppTest:
        at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT_S)
        at.session_state[WORKSPACE_KEY] = ws
        if user is not None:
            at.session_state[USER_KEY] = user
        return at

    return make


@pytest.fixture
def board(ws: Workspace, people: dict[str, User]) -> Dashboard:
    """An unscoped dashboard with two pinned tiles: events per app, events per type."""
    made = ws.dashboards.create("Growth", owner="ann")
    ws.dashboards.add_tile(made.dashboard_id, title="Events per app", sql=PER_APP_SQL,
                           created_by="ann", chart=ChartSpec(kind="bar", x="app_id", y=["n"]))
    ws.dashboards.add_tile(made.dashboard_id, title="Events per type", sql=PER_TYPE_SQL,
                           created_by="ann",
                           chart=ChartSpec(kind="bar", x="event_type", y=["n"]))
    return made
