"""Share page (embed links: create, list, revoke) and the embedded view they open.

Numbers by hand from tests/workspace/events_fixture.py: shop has 31 events (activation 7,
page 10, purchase 5, signup 9); news has 3.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from metadata.dashboards import Dashboard
from metadata.users import User
from workspace.app._embed import REFUSED_TITLE
from workspace.service import Workspace

App = Callable[..., AppTest]
SHOP_PER_TYPE = {"activation": 7, "page": 10, "purchase": 5, "signup": 9}


def open_share(app: App, user: User) -> AppTest:
    at = app(user).run()
    at.switch_page("views/share.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_embed(app: App, token: str, params: dict[str, str] | None = None) -> AppTest:
    at = app(None)
    at.context["is_embedded"] = True  # what ?embed=true in the browser's URL turns on
    at.query_params.update({"token": token, **(params or {})})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def bars(at: AppTest) -> list[dict[str, Any]]:
    out = []
    for chart in at.get("plotly_chart"):
        trace = json.loads(chart.proto.spec)["data"][0]
        out.append(dict(zip(trace["x"], trace["y"], strict=True)))
    return out


def create_link(at: AppTest, app_id: str, days: float = 7.0) -> str:
    at.selectbox(key="link_app").select(app_id)
    at.number_input(key="link_days").set_value(days)
    at.button(key="link_create").click().run()
    url = at.code[0].value
    assert url.startswith("http://127.0.0.1:8501/?embed=true&token=")
    return url.split("token=", 1)[1]


def test_create_list_and_revoke_a_link(app: App, ws: Workspace, people: dict[str, User],
                                       board: Dashboard) -> None:
    at = open_share(app, people["analyst"])
    assert at.number_input(key="link_days").value == ws.settings.workspace.embed_ttl_days
    token = create_link(at, "shop", days=2)
    assert "shown only once" in at.success[0].value
    (link,) = ws.embeds.list(board.dashboard_id)
    assert (link.app_id, link.created_by) == ("shop", "ann")
    assert timedelta(days=1, hours=23) < link.expires_at - datetime.now(UTC) <= timedelta(days=2)
    assert ws.embeds.verify(token) == link
    assert any(":green[active]" in m.value for m in at.markdown)
    at.run()
    assert not at.code  # the link is not shown again
    at.button(key=f"revoke-{link.link_id}").click().run()
    assert ws.embeds.list(board.dashboard_id)[0].revoked_at is not None
    assert any(":red[revoked]" in m.value for m in at.markdown)
    assert not [b for b in at.button if b.key == f"revoke-{link.link_id}"]


def test_scoped_analyst_can_only_link_their_app(app: App, ws: Workspace,
                                                people: dict[str, User],
                                                board: Dashboard) -> None:
    shop_board = ws.dashboards.create("Shop", owner="sam", app_id="shop")
    at = open_share(app, people["scoped"])
    assert at.selectbox(key="share_dashboard").options == ["Shop · shop"]  # the unscoped one is not
    box = at.selectbox(key="link_app")
    assert (box.options, box.disabled) == (["shop"], True)
    at.button(key="link_create").click().run()
    assert [link.app_id for link in ws.embeds.list(shop_board.dashboard_id)] == ["shop"]


def test_embed_view_shows_only_that_dashboard_and_its_tenant(app: App, ws: Workspace,
                                                            people: dict[str, User],
                                                            board: Dashboard) -> None:
    ws.dashboards.create("Another board", owner="ann")
    token = create_link(open_share(app, people["analyst"]), "shop")
    at = open_embed(app, token)
    assert [t.value for t in at.title] == ["Growth"]
    assert bars(at) == [{"shop": 31}, SHOP_PER_TYPE]
    assert len(at.sidebar) == 0 and not at.selectbox and not at.text_input and not at.button
    with pytest.raises(ValueError, match="navigation page"):
        at.switch_page("views/dashboards.py")
    (link,) = ws.embeds.list(board.dashboard_id)
    last = ws.audit.tail(2)
    assert {(r["actor"], r["source"]) for r in last} == {(f"embed:{link.link_id}", "embed")}
    assert all("'shop'" in str(r["sql_run"]) for r in last)
    dated = open_embed(app, token, {"from": "2026-10-12", "to": "2026-10-18", "app": "news"})
    assert bars(dated)[0] == {"shop": 6}  # the link's app wins over the URL's


def refused(at: AppTest) -> str:
    assert [t.value for t in at.title] == [REFUSED_TITLE]
    assert not at.get("plotly_chart") and len(at.sidebar) == 0
    return f"{at.error[0].value} {at.caption[0].value}"


def test_tampered_expired_revoked_and_malformed_links_are_refused(
        app: App, ws: Workspace, people: dict[str, User], board: Dashboard) -> None:
    link, token = ws.embeds.create(board.dashboard_id, "shop", timedelta(days=1), "ann")
    body, signature = token.split(".")
    other_app = ws.embeds.sign(dataclasses.replace(link, app_id="news"))
    forged = f"{other_app.split('.')[0]}.{signature}"  # news claims under shop's signature
    assert "does not match" in refused(open_embed(app, forged))
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    assert "embed_tampered" in refused(open_embed(app, f"{body}.{flipped}"))
    past = ws.embeds.sign(dataclasses.replace(link, expires_at=datetime.now(UTC)
                                              - timedelta(minutes=1)))
    assert "expired" in refused(open_embed(app, past))
    assert "malformed" in refused(open_embed(app, "not-a-token"))
    assert "malformed" in refused(open_embed(app, ""))
    assert bars(open_embed(app, token)) == [{"shop": 31}, SHOP_PER_TYPE]
    ws.embeds.revoke(link.link_id)
    assert "revoked" in refused(open_embed(app, token))
    assert not [r for r in ws.audit.tail(50) if r["source"] == "embed" and r["verdict"] != "ok"]


def test_deleted_dashboard_and_app_mismatch_are_refused(app: App, ws: Workspace,
                                                       board: Dashboard) -> None:
    news = ws.dashboards.create("News", owner="ada", app_id="news")
    _, mismatch = ws.embeds.create(news.dashboard_id, "shop", timedelta(days=1), "ada")
    assert "another app" in refused(open_embed(app, mismatch))
    _, token = ws.embeds.create(board.dashboard_id, "shop", timedelta(days=1), "ann")
    ws.dashboards.delete(board.dashboard_id)  # revokes its links too
    assert "revoked" in refused(open_embed(app, token))
