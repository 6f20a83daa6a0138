"""Access (admins): who may sign in, with which role and app scope; and the audit log of every
query, so admins see who ran what."""

from __future__ import annotations

import streamlit as st

from causality.errors import CausalityError
from metadata.users import ROLES, User
from workspace.app._context import page_context
from workspace.app._look import plain
from workspace.app._results import show_error

AUDIT_ROWS = 50

ctx = page_context("admin")
ws, me = ctx.ws, ctx.user

st.title("Access")
people_tab, audit_tab = st.tabs(["People", "Audit log"])


def _done(message: str) -> None:
    st.session_state["_access_done"] = message
    st.rerun()


def _add_form() -> None:
    with st.form("add_user", clear_on_submit=True):
        first, second, third = st.columns(3)
        username = first.text_input("Username", key="add_username")
        password = second.text_input("Password", type="password", key="add_password",
                                     help="at least 10 characters; empty for SSO-only accounts")
        role = third.selectbox("Role", ROLES, index=0, key="add_role")
        app = first.text_input("Only app (optional)", key="add_app",
                               help="the person then sees only this app's events")
        email = second.text_input("Email (optional)", key="add_email",
                                  help="signs in through single sign-on with this address")
        if not st.form_submit_button("Add person", type="primary", key="add_submit",
                                     icon=":material/person_add:"):
            return
    try:
        added = ws.users.add(username.strip(), password or None, role,
                             app_id=app.strip() or None, email=email.strip() or None)
    except CausalityError as err:
        show_error(err)
        return
    _done(f"Added {plain(added.username)} ({added.role}).")


def _edit(user: User) -> None:
    """Role, scope, password, enable/disable for one person."""
    key = user.username
    own = user.username == me.username
    role_col, app_col = st.columns(2)
    role = role_col.selectbox("Role", ROLES, index=ROLES.index(user.role), key=f"role-{key}",
                              disabled=own, help="you cannot change your own role" if own
                              else None)
    app = app_col.text_input("Only app (empty: all apps)", value=user.app_id or "",
                             key=f"app-{key}")
    if st.button("Save role and scope", key=f"save-{key}"):
        try:
            ws.users.update(user.username, role=role, app_id=app.strip() or None,
                            clear_app=not app.strip())
        except CausalityError as err:
            show_error(err)
        else:
            _done(f"Saved {plain(user.username)}: {role}, {plain(app.strip() or 'all apps')}.")
    pw_col, button_col = st.columns([2, 1], vertical_alignment="bottom")
    password = pw_col.text_input("New password", type="password", key=f"pw-{key}")
    if button_col.button("Reset password", key=f"reset-{key}", disabled=not password):
        try:
            ws.users.update(user.username, password=password)
        except CausalityError as err:
            show_error(err)
        else:
            _done(f"Password of {plain(user.username)} reset.")
    if user.disabled_at is None:
        if st.button("Disable", key=f"disable-{key}", disabled=own,
                     help="you cannot disable yourself" if own else None):
            ws.users.update(user.username, disabled=True)
            _done(f"{plain(user.username)} can no longer sign in.")
    elif st.button("Enable", key=f"enable-{key}"):
        ws.users.update(user.username, disabled=False)
        _done(f"{plain(user.username)} can sign in again.")


with people_tab:
    done = st.session_state.pop("_access_done", None)
    if done:
        st.success(done)
    people = ws.users.list()
    st.dataframe([{"username": u.username, "role": u.role, "app": u.app_id or "all apps",
                   "email": u.email or "", "status": "disabled" if u.disabled_at else "active",
                   "since": u.created_at.strftime("%Y-%m-%d")} for u in people],
                 hide_index=True, key="people_table")
    with st.expander("Add a person"):
        _add_form()
    names = [u.username for u in people]
    chosen = st.selectbox("Change a person", names, key="edit_user",
                          index=names.index(me.username) if me.username in names else 0)
    if chosen is not None:
        with st.container(border=True):
            st.markdown(f"**{plain(chosen)}**")
            _edit(next(u for u in people if u.username == chosen))

with audit_tab:
    st.caption(f"The last {AUDIT_ROWS} query attempts, newest first: who, from where, what "
               "ran, and how it ended.")
    st.dataframe([{"at": r["at"], "who": r["actor"], "from": r["source"],
                   "verdict": r["verdict"] if not r["code"] else f"{r['verdict']}: {r['code']}",
                   "rows": r["rows"], "sql": r["sql_run"] or r["sql_in"],
                   "question": r["question"] or ""}
                  for r in reversed(ws.audit.tail(AUDIT_ROWS))],
                 hide_index=True, key="audit_table")
