"""The embedded view (``?embed=true&token=...``): one dashboard, read-only, for people who are
not signed in. The token's app is the tenant of every tile's query, enforced by the guardrails;
anything wrong with the token shows a refusal page and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

from causality.errors import CausalityError
from metadata.embeds import EmbedLink
from workspace.app._look import plain
from workspace.app._tiles import TileRun, render_tiles
from workspace.filters import Filters
from workspace.service import Workspace

REFUSED_TITLE = "This link cannot be opened"


def render_embed(ws: Workspace, token: str) -> None:
    try:
        link = ws.embeds.verify(token)
        board = ws.dashboards.get(link.dashboard_id)
        tenant = ws.tile_scope(board, Filters(), None, embed_app=link.app_id)
    except CausalityError as err:
        refused(err)
        return
    filters, problems = _dates(st.query_params.to_dict(), link)
    st.title(plain(board.name))
    st.caption(f"App {plain(link.app_id)} · read-only shared view · link expires "
               f"{link.expires_at:%Y-%m-%d %H:%M} UTC")
    for problem in problems:
        st.warning(problem)
    render_tiles(ws, ws.dashboards.tiles(board.dashboard_id),
                 TileRun(filters, tenant, actor=f"embed:{link.link_id}", source="embed"))


def refused(err: CausalityError) -> None:
    """The 403-style page: what is wrong and what to do, nothing of the dashboard."""
    st.title(REFUSED_TITLE)
    st.error(plain(f"{err.message[:1].upper()}{err.message[1:]}."), icon=":material/block:")
    if err.hint:
        code = err.code.replace("`", "")[:80]
        st.caption(f"{plain(err.hint[:1].upper() + err.hint[1:])}. (403 · `{code}`)")


def _dates(params: Mapping[str, str], link: EmbedLink) -> tuple[Filters, list[str]]:
    """The date range the embedding page asked for (``from``/``to``); the app is the link's."""
    wanted = {k: params[k] for k in ("from", "to") if params.get(k)}
    try:
        found = Filters.from_params(wanted)
    except CausalityError as err:
        return Filters(app_id=link.app_id), [f"{plain(err.message)}; showing all dates."]
    return Filters(found.start, found.end, link.app_id), []
