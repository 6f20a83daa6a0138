"""Share: signed embed links to a dashboard, each limited to one app and an expiry; revocable.

The full link is shown once, right after it is made (only the link's row is stored, and the
token can be re-derived only with the store's secret).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from causality.errors import CausalityError
from metadata.dashboards import Dashboard
from metadata.embeds import EmbedLink
from workspace.app._boards import can_manage, label, visible_dashboards
from workspace.app._context import page_context
from workspace.app._look import plain
from workspace.app._results import show_error
from workspace.app._scope import known_apps

MIN_DAYS = 0.01  # about a quarter of an hour
MAX_DAYS = 366.0

ctx = page_context("analyst")
ws, user = ctx.ws, ctx.user
settings = ws.settings.workspace

st.title("Share")
st.caption("An embed link opens one dashboard, read-only, without signing in. Every tile is "
           "limited to the link's app; the link stops working when it expires or is revoked.")
boards = [b for b in visible_dashboards(ws, user) if can_manage(user, b)]
if not boards:
    st.info("There is no dashboard you can share yet. Make one on the Dashboards page.")
    st.stop()
by_id = {b.dashboard_id: b for b in boards}
wanted = st.query_params.get("d")
board = by_id[st.selectbox("Dashboard", list(by_id), format_func=lambda d: label(by_id[d]),
                           index=list(by_id).index(wanted) if wanted in by_id else 0,
                           key="share_dashboard")]


def _apps_for(board: Dashboard) -> list[str]:
    """The apps a link to ``board`` may be limited to (a scoped board or user: just one)."""
    fixed = board.app_id or user.app_id
    return [fixed] if fixed else known_apps(ws)


def _create_form(board: Dashboard) -> tuple[EmbedLink, str] | None:
    apps = _apps_for(board)
    with st.form("new_link"):
        left, right = st.columns(2)
        if apps:
            app = left.selectbox("App shown", apps, key="link_app", disabled=len(apps) == 1,
                                 help="Every tile is filtered to this app's events")
        else:
            app = left.text_input("App shown", key="link_app_text",
                                  help="Every tile is filtered to this app's events")
        days = right.number_input("Expires in (days)", min_value=MIN_DAYS, max_value=MAX_DAYS,
                                  value=float(settings.embed_ttl_days), step=1.0,
                                  key="link_days")
        if not st.form_submit_button("Create link", type="primary", key="link_create",
                                     icon=":material/link:"):
            return None
    if not app:
        st.error("Pick the app this link shows.")
        return None
    try:
        return ws.embeds.create(board.dashboard_id, str(app), timedelta(days=float(days)),
                                created_by=user.username)
    except CausalityError as err:
        show_error(err)
        return None


made = _create_form(board)
if made is not None:
    link, token = made
    st.success(f"Link created for app {plain(link.app_id)}, valid until "
               f"{link.expires_at:%Y-%m-%d %H:%M} UTC. Copy it now: it is shown only once.")
    st.code(f"{settings.base_url}/?embed=true&token={token}", language=None, wrap_lines=True)


def _status(link: EmbedLink, now: datetime) -> str:
    if link.revoked_at is not None:
        return "revoked"
    return "active" if link.active(now) else "expired"


st.subheader("Links to this dashboard")
links = ws.embeds.list(board.dashboard_id)
if not links:
    st.caption("No links yet.")
now = datetime.now(UTC)
for link in reversed(links):
    status = _status(link, now)
    cols = st.columns([1.2, 1, 1.8, 1.2, 1], vertical_alignment="center")
    cols[0].markdown(f"`{link.link_id}`")
    cols[1].markdown(f"app **{plain(link.app_id)}**")
    cols[2].markdown(f"expires {link.expires_at:%Y-%m-%d %H:%M} UTC")
    cols[3].markdown({"active": ":green[active]", "expired": ":orange[expired]",
                      "revoked": ":red[revoked]"}[status] + f" · by {plain(link.created_by)}")
    if status == "active" and cols[4].button("Revoke", key=f"revoke-{link.link_id}",
                                             icon=":material/link_off:"):
        ws.embeds.revoke(link.link_id)
        st.rerun()
