"""Signing in and out: local accounts (a password form) and OpenID Connect through `st.login`.

A wrong username and a wrong password get the same message, and both count as failed attempts:
five in a minute pause the username, and `workspace.signin_failures_per_address` within
`workspace.signin_address_window_s` pause the client's address whatever usernames it tried
(password spraying). The counts live in the metadata store (`Workspace.windows`), shared by
every workspace process. An attempt takes its place in both counts before the password is
checked, so parallel attempts cannot slip past a limit, and gives it back when it succeeds.

The signed-in user is re-read from the metadata store on every run, so a role change, a new
app scope or a disabled account takes effect at once; `workspace.session_idle_timeout_s`
without a run signs the person out.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import math
from collections.abc import Sequence

import streamlit as st

from causality.errors import CausalityError
from metadata.users import User, UserError
from workspace.app._context import (
    USER_KEY,
    WORKSPACE_KEY,
    renew_session,
    signed_in_user,
    start_session,
)
from workspace.app._look import plain
from workspace.service import Workspace

FAILED_SIGNINS = 5  # per username, within the window below
FAILED_WINDOW_S = 60.0
WRONG_CREDENTIALS = "Wrong username or password."
LOOPBACK = "loopback"  # Streamlit reports a client on 127.0.0.1 or ::1 as no address
IPV6_PREFIX = 64  # one IPv6 subscriber gets a whole /64: count it as one client
UNAVAILABLE = ("Signing in is not possible right now: the metadata store does not answer. "
               "Try again in a minute; if it persists, tell an admin.")


def client_address(peer: str | None, forwarded: Sequence[str], trusted_hops: int) -> str:
    """The address failed sign-ins are counted against: the connection's peer or, behind
    ``trusted_hops`` reverse proxies, the address the outermost of them saw (the entry that
    many from the right of X-Forwarded-For; entries further left are the client's own word).
    """
    chosen = _ip(peer) if peer else None
    entries = [part for value in forwarded for part in value.split(",")]
    if trusted_hops and len(entries) >= trusted_hops:
        chosen = _ip(entries[-trusted_hops]) or chosen
    if chosen is None:
        return LOOPBACK if peer is None else peer[:64]
    if chosen.version == 6:
        return str(ipaddress.ip_network(f"{chosen}/{IPV6_PREFIX}", strict=False))
    return str(chosen)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("["):  # [v6] or [v6]:port
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        found = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = found.ipv4_mapped if isinstance(found, ipaddress.IPv6Address) else None
    return mapped or found


def request_address(trusted_hops: int) -> str:
    """`client_address` of the browser session running this script."""
    forwarded = st.context.headers.get_all("X-Forwarded-For") if trusted_hops else []
    return client_address(st.context.ip_address, forwarded, trusted_hops)


def password_sign_in(ws: Workspace, username: str, password: str, address: str) -> User | str:
    """The user, or the message to show (never saying which of the two was wrong)."""
    name = username.strip()[:64]
    if not name or not password:
        return "Enter your username and your password."
    settings = ws.settings.workspace
    by_address, by_name = f"signin-address:{address}", f"signin-user:{name}"
    try:
        tried = ws.windows.take(by_address, settings.signin_failures_per_address,
                                settings.signin_address_window_s)
        if not tried.taken:
            return ("Too many failed sign-ins from your network address. Try again in "
                    f"{math.ceil(tried.wait_s)} seconds.")
        tried = ws.windows.take(by_name, FAILED_SIGNINS, FAILED_WINDOW_S)
        if not tried.taken:
            ws.windows.give_back(by_address)  # no password was checked
            return ("Too many failed sign-ins for this username. Try again in "
                    f"{math.ceil(tried.wait_s)} seconds.")
        user = ws.users.authenticate(name, password)
        if user is None:
            return WRONG_CREDENTIALS
        ws.windows.clear(by_name)
        ws.windows.give_back(by_address)
    except CausalityError:  # the store is down: nobody signs in uncounted
        return UNAVAILABLE
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
            start_session(found)
            return found
        return None
    idle_s = ws.settings.workspace.session_idle_timeout_s
    if not renew_session(idle_s):
        sign_out(reason=f"You were signed out after {idle_s / 60:g} minutes without activity. "
                        "Sign in again.")
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
            outcome = password_sign_in(ws, username, password,
                                       request_address(ws.settings.workspace.trusted_proxy_hops))
            if isinstance(outcome, User):
                start_session(outcome)
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
