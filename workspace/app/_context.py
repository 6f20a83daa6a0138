"""What every page gets: the `Workspace` services and the signed-in user.

The workspace is built once per process from the settings by the composition root's app
script (``causality/workspace_app.py`` calls :func:`set_workspace_factory`). Tests put a ready
`Workspace` (test warehouse, in-memory metadata, a fake planner) into
``st.session_state[WORKSPACE_KEY]`` before the first run; it then wins over the factory.
The signed-in user lives in ``st.session_state[USER_KEY]`` (the time of their last run in
``ACTIVE_KEY``) and is set only by the sign-in page after a password check (or by Streamlit's
OIDC login).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from metadata.users import Role, User
from workspace.service import Workspace

WORKSPACE_KEY = "_causality_workspace"
USER_KEY = "_causality_user"
ACTIVE_KEY = "_causality_active_at"  # Unix time of the signed-in person's last run


@dataclass(frozen=True)
class AppContext:
    ws: Workspace
    user: User


_factory: Callable[[], Workspace] | None = None


def set_workspace_factory(factory: Callable[[], Workspace]) -> None:
    """How this process gets its `Workspace` (the composition root's app script sets it)."""
    global _factory
    _factory = factory


def get_workspace() -> Workspace:
    injected = st.session_state.get(WORKSPACE_KEY)
    if isinstance(injected, Workspace):
        return injected
    if _factory is None:
        st.error("This app was started without its settings. Start it with "
                 "`causality workspace` (or `causality up`).")
        st.stop()
    return _factory()


def signed_in_user() -> User | None:
    user = st.session_state.get(USER_KEY)
    return user if isinstance(user, User) else None


def start_session(user: User) -> None:
    st.session_state[USER_KEY] = user
    st.session_state[ACTIVE_KEY] = time.time()


def idle_too_long(idle_timeout_s: float) -> bool:
    """True when the signed-in person's last run is more than ``idle_timeout_s`` ago."""
    last = st.session_state.get(ACTIVE_KEY)
    return isinstance(last, float | int) and time.time() - last > idle_timeout_s


def renew_session(idle_timeout_s: float) -> bool:
    """Count this run as the signed-in person's activity; False, renewing nothing, when they
    were idle too long (they must then sign in again)."""
    if idle_too_long(idle_timeout_s):
        return False
    st.session_state[ACTIVE_KEY] = time.time()
    return True


def page_context(role: Role = "viewer") -> AppContext:
    """The context for a page that needs `role`; otherwise says why and stops the run.

    Navigation already hides pages a user may not open; this is the second lock, for a page
    reached any other way.
    """
    user = signed_in_user()
    if user is None:
        st.error("Sign in to see this page.")
        st.stop()
    if not user.can(role):
        st.error(f"This page needs the {role} role; you are signed in as a {user.role}.")
        st.stop()
    return AppContext(get_workspace(), user)
