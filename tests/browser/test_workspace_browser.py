"""The workspace in a real browser (Debian's chromium through Playwright) against
``causality workspace`` on a loopback port: signing in, Insights, dashboards, embed links,
and who may reach what.

Expected numbers come from the hand-built events (tests/workspace/events_fixture.py) or from
the hand-worked insight tests (tests/workspace/insights/test_numbers.py), never from the app.
"""

from __future__ import annotations

import re
from collections import Counter
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.browser._seed import BOARD, BY_TYPE, DAILY, PEOPLE, TOTAL
from tests.browser._ui import (
    bar_values,
    expect_signed_out,
    go_in_session,
    numbers,
    pick,
    sign_in,
    table_rows,
    tile_traces,
    type_date,
)
from tests.browser.conftest import Server
from tests.workspace.events_fixture import EVENTS, OTHER_APP, TENANT

pytestmark = pytest.mark.browser

# The page URLs the workspace's menu uses (workspace/app/_nav.py).
SQL_URL, CHAT_URL, BOARDS_URL = "/query", "/ask", "/boards"
SQL_EDITOR = re.compile(r"^SQL\b")  # the SQL page's text area ("SQL (Trino dialect)")
OUTSIDE_CHARTS = "{0}:not([data-testid='stPlotlyChart'] {0})"


def events_by_type(app: str | None) -> Counter[str]:
    return Counter(kind for where, _, kind, _, _ in EVENTS if app is None or where == app)


def query_of(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


def test_a_signed_out_visitor_sees_only_the_sign_in_page(page: Page) -> None:
    page.goto("/")
    expect_signed_out(page)
    # the workspace's page URLs: the sign-in form at that address (no "Page not found"),
    # so the page opens once the person has signed in
    for path in (SQL_URL, CHAT_URL, BOARDS_URL):
        page.goto(path)
        expect_signed_out(page)
        expect(page.get_by_role("dialog")).to_have_count(0)
        expect(page).to_have_url(re.compile(rf"{path}$"))
        expect(page.get_by_role("textbox", name=SQL_EDITOR)).to_have_count(0)
    # the page files' own names (Streamlit's folder-based pages) serve nothing either
    for path in ("/sql", "/chat"):
        page.goto(path)
        expect_signed_out(page)
        expect(page.get_by_role("textbox", name=SQL_EDITOR)).to_have_count(0)


def test_an_analyst_builds_a_funnel_on_the_insights_page(page: Page) -> None:
    page.goto("/")
    sign_in(page, PEOPLE["analyst"])
    page.get_by_role("link", name="Insights", exact=True).click()
    expect(page.get_by_role("heading", name="Insights", exact=True)).to_be_visible()
    pick(page, "App", TENANT)
    page.get_by_test_id("stRadioGroup").get_by_text("Funnel", exact=True).click()
    expect(page.get_by_role("radio", name="Funnel", exact=True)).to_be_checked()
    steps = page.get_by_role("combobox", name="Steps, in order")
    for event in ("signup", "activation", "purchase"):
        steps.click()
        page.get_by_role("option", name=event, exact=True).click()
    page.keyboard.press("Escape")
    window = page.get_by_role("spinbutton", name="Conversion window")
    window.fill("1")
    window.press("Enter")
    type_date(page, "Dates start date", "2026-10-05")
    type_date(page, "Dates end date", "2026-10-07")
    page.get_by_role("button", name="Run insight").click()

    expect(page.get_by_role("heading", name="Funnel signup → activation → purchase within "
                            "1 day, 2026-10-05 to 2026-10-07")).to_be_visible()
    chart = page.get_by_test_id("stPlotlyChart")
    expect(chart).to_have_count(1)
    # Hand-worked in test_funnel_order_window_and_median: in shop, 10-05..10-07, a 1-day
    # window: 5 sign up, 3 of them activate, 2 of those purchase.
    expected = {"signup": "5", "activation": "3", "purchase": "2"}
    # each step's label: its users, then its share of the first step
    expect(chart.locator("text.bartext tspan.line")).to_have_text(
        ["5", "100.0%", "3", "60.0%", "2", "40.0%"])
    rows = table_rows(page.get_by_test_id("stMain"))
    assert {row["event"]: row["users"] for row in rows} == expected


def test_a_dashboard_link_reproduces_the_view(page: Page, server: Server) -> None:
    board = server.seeded.dashboard_id
    page.goto("/")
    sign_in(page, PEOPLE["analyst"])
    page.get_by_role("link", name="Dashboards", exact=True).click()
    expect(page.get_by_role("heading", name="Dashboards", exact=True)).to_be_visible()
    pick(page, "Dashboard", BOARD)
    expect(page).to_have_url(re.compile(rf"{BOARDS_URL}\?d={board}$"))
    charts = page.get_by_test_id("stPlotlyChart")
    expect(charts).to_have_count(3)
    # every app, every day: shop's and news' events
    everyone = events_by_type(None)
    assert bar_values(page, BY_TYPE, everyone) == everyone

    type_date(page, "From", "2026-10-05")
    type_date(page, "To", "2026-10-07")
    pick(page, "App", TENANT)
    expect(page).to_have_url(re.compile(r"app=" + TENANT))
    wanted = {"d": board, "from": "2026-10-05", "to": "2026-10-07", "app": TENANT}
    assert query_of(page.url) == wanted
    # Hand-worked in test_trend_events_per_day and test_top_events: shop, 10-05..10-07.
    expected_by_type = {"activation": 7, "signup": 7, "purchase": 5, "page": 2}
    expect(numbers(page)).to_have_text(["21"])
    assert bar_values(page, BY_TYPE, expected_by_type) == expected_by_type

    # Reloading starts a new session: sign in again, and the link still shows that view.
    link = page.url
    page.reload()
    sign_in(page, PEOPLE["analyst"])
    expect(page).to_have_url(re.compile(rf"{BOARDS_URL}\?"))
    expect(page.get_by_role("heading", name="Dashboards", exact=True)).to_be_visible()
    expect(page.get_by_role("combobox", name="Dashboard", exact=True)).to_have_value(BOARD)
    expect(page.get_by_role("combobox", name="App", exact=True)).to_have_value(TENANT)
    expect(charts).to_have_count(3)
    expect(numbers(page)).to_have_text(["21"])
    assert bar_values(page, BY_TYPE, expected_by_type) == expected_by_type
    assert query_of(page.url) == query_of(link) == wanted


def test_an_embed_link_shows_only_its_dashboard_and_its_tenant(page: Page,
                                                               server: Server) -> None:
    shop, everyone = events_by_type(TENANT), events_by_type(None)
    assert shop != everyone and events_by_type(OTHER_APP)  # the fixture can tell them apart

    page.goto(f"/?embed=true&token={server.seeded.token}")
    expect(page.get_by_role("heading", name=BOARD, exact=True)).to_be_visible()
    expect(page.get_by_test_id("stPlotlyChart")).to_have_count(3)
    expect(numbers(page)).to_have_text([str(shop.total())])
    assert bar_values(page, BY_TYPE, shop) == shop
    (daily,) = tile_traces(page, DAILY)
    assert sum(daily["y"]) == shop.total()
    expect(page.get_by_text(TOTAL, exact=True)).to_be_visible()

    # read-only, and nothing else of the workspace
    expect(page.get_by_test_id("stSidebar")).to_have_count(0)
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
    expect(page.get_by_role("textbox")).to_have_count(0)
    expect(page.get_by_role("combobox")).to_have_count(0)
    # no button but the charts' own (zoom, download as PNG, full screen): no sign-in or
    # sign-out, no refresh, no removing tiles, no notebook export
    expect(page.locator(OUTSIDE_CHARTS.format("button"))).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile(r"^(Chat|SQL|Dashboards|Share)$"))
           ).to_have_count(0)


def test_a_tampered_embed_link_is_refused(page: Page, server: Server) -> None:
    page.goto(f"/?embed=true&token={server.seeded.tampered}")
    expect(page.get_by_role("heading", name="This link cannot be opened")).to_be_visible()
    main = page.get_by_test_id("stMain")
    expect(main).to_contain_text("signature does not match")
    expect(main).to_contain_text("403")
    expect(page.get_by_role("heading", name=BOARD)).to_have_count(0)
    expect(page.get_by_test_id("stPlotlyChart")).to_have_count(0)
    expect(page.get_by_text(BY_TYPE)).to_have_count(0)
    expect(page.get_by_role("textbox")).to_have_count(0)
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)


def test_a_viewer_cannot_reach_the_sql_page(page: Page) -> None:
    page.goto("/")
    sign_in(page, PEOPLE["viewer"])
    expect(page.get_by_role("heading", name="Dashboards", exact=True)).to_be_visible()
    for name in ("SQL", "Chat", "Insights", "Share", "Settings", "Access"):
        expect(page.get_by_role("link", name=name, exact=True)).to_have_count(0)
    expect(page.locator(f"a[href$='{SQL_URL}']")).to_have_count(0)

    # the SQL page's URL, inside the signed-in session
    go_in_session(page, SQL_URL)
    expect(page).not_to_have_url(re.compile(rf"{SQL_URL}$"))
    expect_no_sql_editor(page)

    # the SQL page's URL, loaded afresh (a new session: sign in first)
    page.goto(SQL_URL)
    sign_in(page, PEOPLE["viewer"])
    expect(page.get_by_role("heading", name="Dashboards", exact=True)).to_be_visible()
    expect_no_sql_editor(page)


def test_an_analyst_reaches_the_sql_page_by_its_url(page: Page) -> None:
    """The counterpart of the viewer's test: the same move opens the editor for an analyst."""
    page.goto("/")
    sign_in(page, PEOPLE["analyst"])
    go_in_session(page, SQL_URL)
    expect(page.get_by_role("heading", name="SQL", exact=True)).to_be_visible()
    expect(page.get_by_role("textbox", name=SQL_EDITOR)).to_be_visible()
    expect(page.get_by_role("button", name="Run", exact=True)).to_be_visible()


def expect_no_sql_editor(page: Page) -> None:
    expect(page.get_by_role("heading", name="Dashboards", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="SQL", exact=True)).to_have_count(0)
    expect(page.get_by_role("textbox", name=SQL_EDITOR)).to_have_count(0)
    expect(page.get_by_role("button", name="Run", exact=True)).to_have_count(0)
