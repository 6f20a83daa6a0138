"""Which app (tenant) a page queries. A scoped user is never offered another app; the
guardrails enforce the scope anyway (`Workspace.scope`)."""

from __future__ import annotations

import contextlib

import streamlit as st

from causality.errors import CausalityError
from metadata.users import User
from workspace.app._look import plain
from workspace.service import Workspace

ALL_APPS = "All apps"


def known_apps(ws: Workspace) -> list[str]:
    """Apps with events (the catalog's samples) or with an API key, sorted."""
    apps: set[str] = set()
    with contextlib.suppress(CausalityError):  # the keys still name the apps
        apps.update(ws.engine.catalog().samples.get("events", {}).get("app_id", []))
    apps.update(key.app_id for key in ws.keys.list())
    return sorted(apps)


def pick_scope(ws: Workspace, user: User, key: str, *, label: str = "App",
               disabled: bool = False) -> str | None:
    """The app scope for this page: the user's own app, or one they pick (None = all)."""
    if user.app_id is not None:
        st.caption(f"App: **{plain(user.app_id)}** (your account sees only this app)")
        return user.app_id
    # A None option would show as "Choose an option": the empty string stands for all apps.
    picked = st.selectbox(label, ["", *known_apps(ws)], key=key, disabled=disabled,
                          format_func=lambda app: app or ALL_APPS)
    return picked or None


def scope_label(app_id: str | None) -> str:
    return ALL_APPS.lower() if app_id is None else f"app {app_id}"
