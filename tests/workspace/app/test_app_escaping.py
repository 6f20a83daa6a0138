"""Dashboard names, tile titles, column names and category values are shown as the text they
are, on the Dashboards page and on the embed page that anyone with the link opens: never as a
link, HTML, emphasis or a Streamlit directive, and escaped for plotly in every chart label."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from streamlit.testing.v1 import AppTest

from charts import ChartSpec
from metadata.dashboards import Dashboard
from metadata.users import User
from tests.charts._text import strings
from tests.workspace.app._markdown import literal_text, strong_text
from workspace.service import Workspace

App = Callable[..., AppTest]
TITLE = ("[click](javascript:alert(1)) <img src=x onerror=alert(1)> **bold** :red[red] "
         ":smile: www.evil.example ann@evil.example &lt; `code` $x$")
BOARD = "<script>alert(1)</script> # [home](https://evil.example) :blue[board] _x_"
COL_X = "<b>kind</b>"
COL_Y = "n<img src=x onerror=alert(1)>"
HOSTILE_SQL = (f"SELECT '<i>' || event_type AS \"{COL_X}\", count(*) AS \"{COL_Y}\" "
               "FROM events GROUP BY 1 ORDER BY 1")
BAD_COLUMN = "<img src=y onerror=alert(2)>"


@pytest.fixture
def hostile(ws: Workspace, people: dict[str, User]) -> Dashboard:
    """A dashboard whose name, tile titles, column names and values all hold markup."""
    made = ws.dashboards.create(BOARD, owner="ann")
    ws.dashboards.add_tile(made.dashboard_id, title=TITLE, sql=HOSTILE_SQL, created_by="ann",
                           chart=ChartSpec(kind="bar", x=COL_X, y=[COL_Y], title=TITLE))
    ws.dashboards.add_tile(made.dashboard_id, title="Refused",
                           sql=f'SELECT "{BAD_COLUMN}" FROM events', created_by="ann")
    return made




def assert_tiles_are_literal(at: AppTest) -> None:
    headers = [m.value for m in at.main.markdown if m.value.startswith("**")]
    assert [strong_text(h) for h in headers] == [TITLE, "Refused"]
    (chart,) = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    layout = chart["layout"]
    assert layout["title"]["text"] == html.escape(TITLE, quote=False)
    assert layout["xaxis"]["title"]["text"] == "&lt;b&gt;kind&lt;/b&gt;"
    assert layout["yaxis"]["title"]["text"] == "n&lt;img src=x onerror=alert(1)&gt;"
    (bars,) = chart["data"]
    assert "&lt;i&gt;page" in bars["x"] and bars["name"] == html.escape(COL_Y, quote=False)
    layout.pop("template", None)
    assert not [s for s in strings(chart) if "<" in s or ">" in s]
    (error,) = at.error  # the refused tile names the column it does not know, as text
    assert BAD_COLUMN in literal_text(error.value)


def test_dashboard_page_shows_titles_and_columns_as_text(app: App, people: dict[str, User],
                                                         hostile: Dashboard) -> None:
    at = app(people["viewer"]).run()
    at.query_params.update({"d": hostile.dashboard_id})
    at.switch_page("views/dashboards.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert_tiles_are_literal(at)


def test_embed_page_shows_the_board_name_titles_and_columns_as_text(
        app: App, ws: Workspace, hostile: Dashboard) -> None:
    _, token = ws.embeds.create(hostile.dashboard_id, "shop", timedelta(days=1), "ann")
    at = app(None)
    at.context["is_embedded"] = True
    at.query_params.update({"token": token})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [literal_text(t.value) for t in at.title] == [BOARD]
    assert_tiles_are_literal(at)
