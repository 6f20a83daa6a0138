"""How the browser tests drive the workspace: sign in, move around, and read what is on screen
(the menu, a tile's chart, a result table).

Streamlit draws a dataframe on a canvas; its accessible table (``td`` cells) is what we read.
A plotly chart keeps the traces it drew on its ``.js-plotly-plot`` element (``data``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from playwright.sync_api import Locator, Page, expect

from tests.browser._seed import PASSWORD
from tests.browser.conftest import EXPECT_TIMEOUT_MS

PAGE_NAMES = ("Chat", "Insights", "SQL", "Dashboards", "Share", "Settings", "Access")

# Streamlit keeps an element it is about to replace on screen, marked stale, while a run goes on.
FRESH = '[data-testid="stElementContainer"]:not([data-stale="true"])'
POLL_MS = 250

# The traces of the chart in the tile titled `title`: the tile is the closest block around
# the title that holds a chart, and it must hold exactly one (else the title has no chart of
# its own and the walk reached a neighbour's). Stale elements are left out.
_TILE_TRACES = """
(root, title) => {
  const fresh = e => !e.closest('[data-stale="true"]');
  const heads = [...root.querySelectorAll('[data-testid="stMarkdownContainer"] strong')]
    .filter(e => fresh(e) && e.textContent.trim() === title);
  if (heads.length !== 1) return {error: `${heads.length} tiles titled ${title}`};
  let box = heads[0];
  while (box && !box.querySelector('.js-plotly-plot')) box = box.parentElement;
  if (!box) return {error: `no chart under ${title}`};
  const charts = [...box.querySelectorAll('.js-plotly-plot')].filter(fresh);
  const titles = box.querySelectorAll('[data-testid="stMarkdownContainer"] strong');
  if (charts.length !== 1 || titles.length !== 1) return {error: `no chart of its own: ${title}`};
  return {traces: JSON.parse(JSON.stringify(charts[0].data))};
}
"""


def signin_fields(page: Page) -> tuple[Locator, Locator, Locator]:
    return (page.get_by_role("textbox", name="Username"),
            page.get_by_role("textbox", name="Password"),
            page.get_by_role("button", name="Sign in", exact=True))


def sign_in(page: Page, username: str, password: str = PASSWORD) -> None:
    """Fill the sign-in form and wait until the workspace shows who is signed in."""
    name, secret, button = signin_fields(page)
    name.fill(username)
    secret.fill(password)
    button.click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def expect_signed_out(page: Page) -> None:
    """The sign-in form and nothing else: no menu, no page of the workspace."""
    for field in signin_fields(page):
        expect(field).to_be_visible()
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
    for name in PAGE_NAMES:
        expect(page.get_by_role("link", name=name, exact=True)).to_have_count(0)
        expect(page.get_by_role("heading", name=name, exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    expect(page.locator(".js-plotly-plot")).to_have_count(0)


def go_in_session(page: Page, path: str) -> None:
    """Open ``path`` inside the running session, as the browser's back and forward buttons
    do (loading the URL afresh would start a new, signed-out session)."""
    page.evaluate("""path => {
        history.pushState({}, '', path);
        window.dispatchEvent(new PopStateEvent('popstate', {state: {}}));
    }""", path)


def pick(page: Page, label: str, option: str) -> None:
    """Choose ``option`` in the select box labelled ``label``."""
    page.get_by_role("combobox", name=label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()
    expect(page.get_by_role("combobox", name=label, exact=True)).to_have_value(option)


def type_date(page: Page, label: str, day: str) -> None:
    """Type ``day`` (YYYY-MM-DD) into the date field named ``label`` (its year, month and
    day segments, as a person types them)."""
    year, month, date = day.split("-")
    for part, value in (("year", year), ("month", month), ("day", date)):
        page.get_by_role("spinbutton", name=f"{part}, {label}", exact=True).click()
        page.keyboard.type(value)
    page.keyboard.press("Escape")


def tile_traces(page: Page, title: str,
                until: Callable[[list[dict[str, Any]]], bool] | None = None,
                ) -> list[dict[str, Any]]:
    """The plotly traces drawn in the dashboard tile titled ``title``; with ``until``, once
    they satisfy it (a tile redraws on its own after a filter changes), or as they are at
    the deadline."""
    deadline = time.monotonic() + EXPECT_TIMEOUT_MS / 1000
    while True:
        found: dict[str, Any] = page.locator("body").evaluate(_TILE_TRACES, title)
        traces: list[dict[str, Any]] | None = found.get("traces")
        done = traces is not None and (until is None or until(traces))
        if done or time.monotonic() > deadline:
            assert traces is not None, found.get("error")
            return traces
        page.wait_for_timeout(POLL_MS)  # the poll interval; the deadline bounds the wait


def bars(traces: list[dict[str, Any]]) -> dict[str, float]:
    """category -> height of the one bar trace."""
    (trace,) = traces
    assert trace["type"] == "bar", trace
    return dict(zip(trace["x"], trace["y"], strict=True))


def bar_values(page: Page, title: str, expected: Mapping[str, float]) -> dict[str, float]:
    """The bars of the tile titled ``title``, once they are ``expected`` (or at the deadline:
    then the caller's assert shows what is drawn instead)."""
    want = dict(expected)
    return bars(tile_traces(page, title, until=lambda traces: bars(traces) == want))


def numbers(page: Page) -> Locator:
    """The big numbers (plotly indicators) on screen."""
    return page.locator(f"{FRESH} .js-plotly-plot text.number")


def table_rows(scope: Locator) -> list[dict[str, str]]:
    """The rows of the one result table inside ``scope``, by column header."""
    table = scope.get_by_test_id("stDataFrame")
    expect(table).to_have_count(1)
    expect(table.locator("tbody td").first).to_be_attached()
    headers = [h.strip() for h in table.locator("thead th").all_text_contents()]
    rows = []
    for row in table.locator("tbody tr").all():
        cells = [c.strip() for c in row.locator("td").all_text_contents()]
        rows.append(dict(zip(headers[-len(cells):], cells, strict=True)))
    return rows
