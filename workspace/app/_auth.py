"""Signing in and out: local accounts (a password form) and OpenID Connect through `st.login`.

A wrong username and a wrong password get the same message, and both count towards the same
per-username limit on failed attempts. The signed-in user is re-read from the metadata store on
every run, so a role change, a new app scope or a disabled account takes effect at once.
"""

from __future__ import annotations

import importlib.util
import math
import threading
import time
from collections import deque

import streamlit as st

from workspace.app._context import USER_KEY, WORKSPACE_KEY, signed_in_user
from workspace.app._look import plain
from workspace.metadata.users import User, UserError
from workspace.service import Workspace

FAILED_SIGNINS = 5  # per username, within the window below
FAILED_WINDOW_S = 60.0
MAX_TRACKED_NAMES = 10_000
WRONG_CREDENTIALS = "Wrong username or password."


class Throttle:
    """Failed sign-ins per username within a sliding window; one per process."""

    def __init__(self, limit: int = FAILED_SIGNINS, window_s: float = FAILED_WINDOW_S):
        self.limit, self.window_s = limit, window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_s(self, name: str) -> float:
        """Seconds until ``name`` may try again (0 when it may now)."""
        now = time.monotonic()
        with self._lock:
            recent = self._recent(name, now)
            if len(recent) < self.limit:
                return 0.0
            return max(0.0, recent[0] + self.window_s - now)

    def failed(self, name: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._failures) >= MAX_TRACKED_NAMES:
                for stale in [n for n, q in self._failures.items() if not self._recent(n, now)]:
                    del self._failures[stale]
            self._failures.setdefault(name, deque()).append(now)

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(name, None)

    def _recent(self, name: str, now: float) -> deque[float]:
        recent = self._failures.get(name, deque())
        while recent and now - recent[0] > self.window_s:
            recent.popleft()
        return recent


@st.cache_resource(show_spinner=False)
def _throttle() -> Throttle:
    return Throttle()


def password_sign_in(ws: Workspace, username: str, password: str) -> User | str:
    """The user, or the message to show (never saying which of the two was wrong)."""
    name = username.strip()[:64]
    if not name or not password:
        return "Enter your username and your password."
    throttle = _throttle()
    wait = throttle.wait_s(name)
    if wait > 0:
        return (f"Too many failed sign-ins for this username. Try again in "
                f"{math.ceil(wait)} seconds.")
    user = ws.users.authenticate(name, password)
    if user is None:
        throttle.failed(name)
        return WRONG_CREDENTIALS
    throttle.succeeded(name)
    return user


def sso_identity(ws: Workspace) -> User | str | None:
    """The user an OIDC login maps to (by verified email), a message saying why it maps to
    none, or None when nobody signed in through the identity provider."""
    if not ws.settings.workspace.oidc_enabled or not st.user.get("is_logged_in"):
        return None
    email = str(st.user.get("email") or "")
    if not email:
        return "Your identity provider did not share an email address, so no account matches."
    if st.user.get("email_verified") is not True:
        return (f"Your identity provider has not verified {plain(email)}; verify it there, "
                "then sign in again.")
    user = ws.users.by_email(email)
    if user is None:
        return (f"There is no account for {plain(email)}. Ask an admin to add one "
                "(Access page, or `causality users add NAME --email ...`).")
    return user


def current_user(ws: Workspace) -> User | None:
    """The signed-in user as the metadata store has them now; None when signed out."""
    user = signed_in_user()
    if user is None:
        found = sso_identity(ws)
        if isinstance(found, User):
            st.session_state[USER_KEY] = found
            return found
        return None
    try:
        fresh = ws.users.get(user.username)
    except UserError:
        fresh = None
    if fresh is None or fresh.disabled_at is not None:
        sign_out(reason="Your account is no longer active.")
        return None
    st.session_state[USER_KEY] = fresh
    return fresh


def sign_out(reason: str | None = None) -> None:
    """Forget everything this session holds (except an injected workspace)."""
    for key in list(st.session_state.keys()):
        if key != WORKSPACE_KEY:
            del st.session_state[key]
    if reason:
        st.session_state["_signout_reason"] = reason
    if st.user.get("is_logged_in"):
        st.logout()


def render_signin(ws: Workspace) -> None:
    _, middle, _ = st.columns([1, 1.3, 1])
    with middle:
        st.title("Causality")
        st.caption("Sign in to the analyst workspace.")
        reason = st.session_state.pop("_signout_reason", None)
        if reason:
            st.info(reason)
        if ws.users.count() == 0:
            st.info("No one can sign in yet. Add the first admin on the server with "
                    "`causality users add NAME --role admin`.")
        with st.form("signin"):
            username = st.text_input("Username", key="signin_username",
                                     autocomplete="username")
            password = st.text_input("Password", type="password", key="signin_password",
                                     autocomplete="current-password")
            submitted = st.form_submit_button("Sign in", type="primary", width="stretch",
                                              key="signin_submit")
        if submitted:
            outcome = password_sign_in(ws, username, password)
            if isinstance(outcome, User):
                st.session_state[USER_KEY] = outcome
                st.rerun()
            st.error(outcome)
        if ws.settings.workspace.oidc_enabled:
            _sso_section(ws)


def _sso_section(ws: Workspace) -> None:
    st.divider()
    found = sso_identity(ws)
    if isinstance(found, str):
        st.warning(found)
        if st.button("Sign out of single sign-on", key="sso_logout"):
            st.logout()
        return
    if st.button("Sign in with SSO", key="sso_login", icon=":material/key:", width="stretch"):
        if importlib.util.find_spec("authlib") is None:
            st.error("Single sign-on is configured, but the Authlib package is missing.")
            st.caption("Hint: install it with `pip install 'Authlib>=1.3.2'` and restart "
                       "`causality workspace`.")
            return
        st.login()
