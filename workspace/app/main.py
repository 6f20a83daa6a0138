"""The app: one look, then who sees what. `causality workspace` runs it through the
composition root's script (``causality/workspace_app.py``, which says how to build the
`Workspace`); run as a script itself (tests inject a `Workspace`), it renders too.

* ``?embed=true&token=...``: only the embedded dashboard, read-only, no sign-in, no menu.
* signed out: only the sign-in page.
* signed in: the pages of the person's role, and who they are in the sidebar.

Every branch calls `st.navigation`, so the page files in ``views/`` are reached only through
it (a folder named ``pages/`` would be served by Streamlit on its own, before any sign-in).
"""

from __future__ import annotations

import streamlit as st

from metadata.users import User
from workspace.app._auth import current_user, sign_out
from workspace.app._context import get_workspace
from workspace.app._embed import render_embed
from workspace.app._look import apply_look, plain
from workspace.app._nav import pages_for
from workspace.service import Workspace


def render() -> None:
    """One run of the app."""
    apply_look()
    ws = get_workspace()
    # Streamlit keeps ``embed=true`` out of st.query_params and reports it as
    # st.context.is_embedded; a token alone also means "this is an embed link", so it never
    # falls through to the sign-in. (No st.stop() after a page: it would cancel the tiles
    # still loading in parallel.)
    if st.context.is_embedded or "token" in st.query_params:
        _embedded(ws)
    else:
        _workspace(ws)


def _who(user: User) -> None:
    with st.sidebar:
        st.markdown(f"**{plain(user.username)}**  \n{user.role}")
        st.caption(f"App: {plain(user.app_id)}" if user.app_id else "All apps")
        if st.button("Sign out", key="signout", icon=":material/logout:", width="stretch"):
            sign_out()
            st.rerun()


def _embedded(ws: Workspace) -> None:
    token = st.query_params.get("token", "")
    st.navigation([st.Page(lambda: render_embed(ws, token), title="Dashboard", url_path="embed",
                           default=True)], position="hidden").run()


def _workspace(ws: Workspace) -> None:
    user = current_user(ws)
    page = st.navigation(pages_for(user), position="sidebar" if user else "hidden")
    if user is not None:
        _who(user)
    page.run()


if __name__ == "__main__":
    render()
