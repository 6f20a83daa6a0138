"""The Insights page: forms that need no model, against numbers worked out by hand from the
fixture warehouse (tests/workspace/insights/test_numbers.py says how)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

from streamlit.testing.v1 import AppTest

from metadata.users import User
from tests.workspace.app._helpers import open_page, texts
from tests.workspace.app._markdown import shown
from workspace.app._look import plain
from workspace.insights import KINDS
from workspace.service import Workspace

MON_TO_WED = (date(2026, 10, 5), date(2026, 10, 7))
STEPS = ["signup", "activation", "purchase"]


def chart(at: AppTest) -> dict[str, Any]:
    [plot] = at.get("plotly_chart")
    spec: dict[str, Any] = json.loads(plot.proto.spec)
    return spec


def funnel(at: AppTest, steps: list[str], window: int = 1) -> None:
    at.radio(key="ins.kind").set_value("funnel").run()
    at.multiselect(key="ins.funnel.steps").set_value(steps)
    at.number_input(key="ins.funnel.window").set_value(window)
    at.selectbox(key="ins.funnel.unit").set_value("day")
    at.date_input(key="ins.dates").set_value(MON_TO_WED)
    at.button(key="ins.run").click().run()
    assert not at.exception, [e.value for e in at.exception]


def test_funnel_form_draws_the_hand_worked_funnel(app: Callable[..., AppTest],
                                                  people: dict[str, User],
                                                  ws: Workspace) -> None:
    at = open_page(app, people["scoped"], "insights")
    funnel(at, STEPS)
    # shop: 5 users sign up, 3 activate within a day, 2 then purchase
    trace = chart(at)["data"][0]
    assert trace["type"] == "funnel"
    assert (trace["y"], trace["x"]) == (STEPS, [5, 3, 2])
    frame = at.dataframe[0].value
    assert list(frame["users"]) == [5, 3, 2]
    assert list(frame["median_seconds_to_convert"])[1:] == [3600.0, 5400.0]
    assert at.subheader[0].value == plain("Funnel signup → activation → purchase within 1 day, "
                                          "2026-10-05 to 2026-10-07")
    assert "app_id = 'shop'" in at.code[0].value  # the SQL that ran, tenant-filtered
    [row] = [r for r in ws.audit.tail(50) if r["source"] == "sql"]
    assert (row["actor"], row["verdict"]) == ("sam", "ok")
    assert str(row["question"]).startswith("Funnel signup → activation")


def test_all_apps_funnel_counts_the_other_app_too(app: Callable[..., AppTest],
                                                  people: dict[str, User]) -> None:
    at = open_page(app, people["analyst"], "insights")
    scope = at.selectbox(key="ins.scope")
    assert (scope.options[scope.index or 0], scope.index) == ("All apps", 0)
    funnel(at, STEPS)
    assert chart(at)["data"][0]["x"] == [6, 4, 3]  # news' u7 converts fully
    at.selectbox(key="ins.scope").set_value("shop").run()
    at.button(key="ins.run").click().run()
    assert chart(at)["data"][0]["x"] == [5, 3, 2]


def test_event_pickers_offer_only_the_scopes_events(app: Callable[..., AppTest],
                                                    people: dict[str, User]) -> None:
    at = open_page(app, people["scoped"], "insights")
    at.radio(key="ins.kind").set_value("funnel").run()
    assert at.multiselect(key="ins.funnel.steps").options == [
        "page", "signup", "activation", "purchase"]
    assert not [s for s in at.selectbox if s.key == "ins.scope"]


def test_one_step_is_explained_not_run(app: Callable[..., AppTest], people: dict[str, User],
                                       ws: Workspace) -> None:
    at = open_page(app, people["scoped"], "insights")
    funnel(at, ["signup"])
    assert "Steps: pick at least two steps, in the order users take them" in shown(texts(at))
    assert not at.get("plotly_chart")
    assert [r for r in ws.audit.tail(50) if r["source"] == "sql"] == []


def test_trend_per_day_is_a_line(app: Callable[..., AppTest], people: dict[str, User]) -> None:
    at = open_page(app, people["scoped"], "insights")
    at.date_input(key="ins.dates").set_value(MON_TO_WED)
    at.button(key="ins.run").click().run()
    trace = chart(at)["data"][0]
    assert trace["type"] == "scatter" and trace["mode"].startswith("lines")
    assert trace["y"] == [7, 8, 6]

    at.selectbox(key="ins.trend.measure").set_value("sum").run()
    at.text_input(key="ins.trend.property").set_value("revenue")
    at.selectbox(key="ins.trend.event").set_value("purchase")
    at.button(key="ins.run").click().run()
    assert chart(at)["data"][0]["y"] == [30.0, 50.0, 40.0]


def test_weekly_retention_is_a_heatmap(app: Callable[..., AppTest],
                                       people: dict[str, User]) -> None:
    at = open_page(app, people["scoped"], "insights")
    at.radio(key="ins.kind").set_value("retention").run()
    at.selectbox(key="ins.retention.start").set_value("signup")
    at.number_input(key="ins.retention.periods").set_value(2)
    at.date_input(key="ins.dates").set_value((date(2026, 10, 5), date(2026, 10, 25)))
    at.button(key="ins.run").click().run()
    assert chart(at)["data"][0]["type"] == "heatmap"
    frame = at.dataframe[0].value
    assert list(zip(frame["period"], frame["cohort_size"], frame["users"], strict=True)) == [
        (0, 5, 5), (1, 5, 3), (2, 5, 2), (0, 1, 1), (1, 1, 1)]


def test_pin_an_insight_to_a_new_dashboard(app: Callable[..., AppTest],
                                           people: dict[str, User], ws: Workspace) -> None:
    at = open_page(app, people["scoped"], "insights")
    funnel(at, STEPS)
    at.text_input(key="ins.pin-new").set_value("Activation")
    at.button(key="ins.pin-pin").click().run()
    [board] = ws.dashboards.list()
    assert (board.name, board.owner, board.app_id) == ("Activation", "sam", "shop")
    [tile] = ws.dashboards.tiles(board.dashboard_id)
    assert (tile.insight, tile.created_by) == ("funnel", "sam")
    assert tile.chart is not None and tile.chart.kind == "funnel"
    assert tile.sql == at.code[0].value  # the SQL that ran
    assert tile.title.startswith("Funnel signup → activation → purchase")
    assert "Pinned" in texts(at)

    at.run()  # the new board is now on offer
    assert at.selectbox(key="ins.pin-board").options == ["Activation (shop)", "New dashboard…"]


def test_kinds_without_a_form_of_their_own_get_one_from_their_model(
        app: Callable[..., AppTest], people: dict[str, User]) -> None:
    at = open_page(app, people["scoped"], "insights")
    assert at.radio(key="ins.kind").options == [kind.title for kind in KINDS.values()]
    assert at.radio(key="ins.kind").options[:5] == [
        "Trend", "Funnel", "Retention", "Top events", "Stickiness"]
    at.radio(key="ins.kind").set_value("top_events").run()
    at.number_input(key="ins.top_events.limit").set_value(2)
    at.date_input(key="ins.dates").set_value(MON_TO_WED)
    at.button(key="ins.run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    # shop, Mon-Wed: 7 signups (5 users) and 7 activations (7 users); ties by name
    frame = at.dataframe[0].value
    assert list(zip(frame["event_type"], frame["events"], frame["users"], strict=True)) == [
        ("activation", 7, 7), ("signup", 7, 5)]
    assert at.subheader[0].value == plain("Top 2 events, 2026-10-05 to 2026-10-07")

    at.radio(key="ins.kind").set_value("stickiness").run()
    assert at.selectbox(key="ins.stickiness.event").options[1:] == [
        "page", "signup", "activation", "purchase"]
    at.button(key="ins.run").click().run()
    # shop users active Mon-Wed: u1, u2, u3 on two days; u4, u5, u6, u8 on one
    frame = at.dataframe[0].value
    assert (list(frame["days_active"]), list(frame["users"])) == ([1, 2], [4, 3])
    assert chart(at)["data"][0]["type"] == "bar"
