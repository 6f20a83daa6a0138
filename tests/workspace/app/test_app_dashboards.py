"""The Dashboards page: tiles as plotly charts, filters from the URL, tenant scope, caching,
one failing tile among good ones, and what analysts may change.

Numbers are counted by hand from tests/workspace/events_fixture.py: shop has 31 events and
news 3; in the week 2026-10-12..10-18 only shop has events, 6 of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from streamlit.testing.v1 import AppTest

from metadata.dashboards import Dashboard
from metadata.users import User
from tests.workspace.app._helpers import downloads  # noqa: F401 - a fixture
from tests.workspace.app._markdown import shown
from workspace.service import Workspace

App = Callable[..., AppTest]


def open_board(app: App, user: User, params: dict[str, str] | None = None) -> AppTest:
    at = app(user).run()  # signed in, on the person's first page
    at.query_params.clear()  # then open the link
    at.query_params.update(params or {})
    at.switch_page("views/dashboards.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def charts(at: AppTest) -> list[dict[str, Any]]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def bars(spec: dict[str, Any]) -> dict[str, int]:
    trace = spec["data"][0]
    return dict(zip(trace["x"], trace["y"], strict=True))


def test_pinned_tiles_render_as_plotly_charts(app: App, people: dict[str, User],
                                              board: Dashboard) -> None:
    at = open_board(app, people["viewer"])
    per_app, per_type = charts(at)
    assert bars(per_app) == {"news": 3, "shop": 31}
    assert bars(per_type) == {"activation": 8, "page": 10, "purchase": 6, "signup": 10}
    assert [m.value for m in at.markdown if m.value.startswith("**Events")] == [
        "**Events per app**", "**Events per type**"]
    assert at.query_params["d"] == board.dashboard_id


def test_filters_come_from_the_url(app: App, people: dict[str, User], board: Dashboard) -> None:
    at = open_board(app, people["viewer"], {"d": board.dashboard_id, "from": "2026-10-12",
                                            "to": "2026-10-18"})
    assert not at.warning
    assert bars(charts(at)[0]) == {"shop": 6}
    assert [d.value.isoformat() for d in at.date_input] == ["2026-10-12", "2026-10-18"]
    at = open_board(app, people["viewer"], {"d": board.dashboard_id, "app": "news"})
    assert bars(charts(at)[0]) == {"news": 3}
    assert bars(charts(at)[1]) == {"activation": 1, "purchase": 1, "signup": 1}


def test_changing_a_filter_updates_the_url(app: App, people: dict[str, User],
                                           board: Dashboard) -> None:
    at = open_board(app, people["viewer"])
    app_box = next(s for s in at.selectbox if s.label == "App")
    app_box.select("shop").run()
    assert at.query_params["app"] == "shop"
    assert bars(charts(at)[0]) == {"shop": 31}


def test_a_bad_url_value_warns_and_the_defaults_are_used(app: App, people: dict[str, User],
                                                         board: Dashboard) -> None:
    at = open_board(app, people["viewer"], {"d": board.dashboard_id, "from": "yesterday",
                                            "app": "Not An App!"})
    warnings = [shown(w.value) for w in at.warning]
    assert any("Ignored `from`" in w and "YYYY-MM-DD" in w for w in warnings)
    assert any("Ignored `app`" in w for w in warnings)
    assert bars(charts(at)[0]) == {"news": 3, "shop": 31}
    assert at.query_params.get("from") is None  # the bad values are dropped from the link
    at = open_board(app, people["viewer"], {"d": "no-such-board"})
    assert "does not exist" in at.warning[0].value
    assert len(charts(at)) == 2


def test_scoped_user_sees_only_their_app(app: App, ws: Workspace, people: dict[str, User],
                                         board: Dashboard) -> None:
    other = ws.dashboards.create("News only", owner="ada", app_id="news")
    at = open_board(app, people["scoped"], {"app": "news"})
    assert "sees only app shop" in at.warning[0].value
    assert [o for o in at.selectbox[0].options] == ["Growth"]
    assert bars(charts(at)[0]) == {"shop": 31}
    assert bars(charts(at)[1]) == {"activation": 7, "page": 10, "purchase": 5, "signup": 9}
    at = open_board(app, people["scoped"], {"d": other.dashboard_id})
    assert "does not exist or is not yours" in at.warning[0].value
    assert ws.audit.tail(1)[0]["actor"] == "sam"


def test_results_are_cached_and_refresh_runs_again(app: App, people: dict[str, User],
                                                   board: Dashboard) -> None:
    at = open_board(app, people["viewer"])
    at.run()
    captions = [c.value for c in at.caption if "row" in c.value]
    assert captions and all("cached" in c for c in captions)
    at.button(key="refresh_board").click().run()
    captions = [c.value for c in at.caption if "row" in c.value]
    assert captions and not any("cached" in c for c in captions)


def test_one_failing_tile_does_not_stop_the_others(app: App, ws: Workspace,
                                                   people: dict[str, User],
                                                   board: Dashboard) -> None:
    ws.dashboards.add_tile(board.dashboard_id, title="Broken", created_by="ann",
                           sql="SELECT no_such_column FROM events")
    at = open_board(app, people["viewer"])
    assert len(charts(at)) == 2
    assert "no_such_column" in shown(at.error[0].value)
    assert any("unknown_column" in c.value for c in at.caption)


def test_viewer_cannot_change_dashboards(app: App, people: dict[str, User],
                                         board: Dashboard) -> None:
    at = open_board(app, people["viewer"])
    keys = {b.key for b in at.button}
    assert not any(k and (k.startswith("remove-") or k in ("delete_dashboard", "rename_dashboard"))
                   for k in keys)
    assert not at.get("download_button")


def test_analyst_creates_renames_and_deletes_a_dashboard(app: App, ws: Workspace,
                                                         people: dict[str, User]) -> None:
    at = open_board(app, people["analyst"])
    assert "There are no dashboards yet" in at.info[0].value
    at.text_input(key="new_dashboard_name").input("Retention")
    at.button(key="new_dashboard_submit").click().run()
    made = ws.dashboards.list()
    assert [b.name for b in made] == ["Retention"]
    assert at.query_params["d"] == made[0].dashboard_id
    at.text_input(key=f"rename-{made[0].dashboard_id}").input("Retention by week")
    at.button(key="rename_dashboard").click().run()
    assert ws.dashboards.get(made[0].dashboard_id).name == "Retention by week"
    at.checkbox(key=f"confirm-delete-{made[0].dashboard_id}").check().run()
    at.button(key="delete_dashboard").click().run()
    assert ws.dashboards.list() == []


def test_scoped_analyst_makes_dashboards_of_their_app_only(app: App, ws: Workspace,
                                                            people: dict[str, User],
                                                            board: Dashboard) -> None:
    at = open_board(app, people["scoped"])
    assert not any(b.key and b.key.startswith("remove-") for b in at.button)  # unscoped board
    at.text_input(key="new_dashboard_name").input("Shop funnel")
    at.button(key="new_dashboard_submit").click().run()
    assert [b.app_id for b in ws.dashboards.list() if b.name == "Shop funnel"] == ["shop"]


def test_analyst_removes_a_tile_and_downloads_a_notebook(
        app: App, ws: Workspace, people: dict[str, User], board: Dashboard,
        downloads: dict[str, bytes]) -> None:  # noqa: F811
    at = open_board(app, people["analyst"], {"d": board.dashboard_id, "from": "2026-10-12"})
    source = downloads["growth.py"].decode()
    assert "import marimo" in source and "2026-10-12" in source
    assert "GROUP BY app_id" in source and "GROUP BY event_type" in source
    first = ws.dashboards.tiles(board.dashboard_id)[0]
    at.button(key=f"remove-{first.tile_id}").click().run()
    assert [t.title for t in ws.dashboards.tiles(board.dashboard_id)] == ["Events per type"]
    assert len(charts(at)) == 1
    assert "GROUP BY app_id" not in downloads["growth.py"].decode()
