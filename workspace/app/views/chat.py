"""Chat: ask questions about the events; each answer shows the explanation, the assumptions,
the SQL (editable, re-run through the guardrails), the table and the chart."""

from __future__ import annotations

import streamlit as st

from workspace.app._chat_actions import verified_pairs
from workspace.app._chat_view import (
    ERROR_KEY,
    SETUP_TEXT,
    ask,
    chat_list,
    current_session,
    render_turn,
    scope_picker,
)
from workspace.app._context import page_context
from workspace.app._look import plain
from workspace.app._results import show_error
from workspace.app._starter import example_buttons

ctx = page_context("analyst")
ws, user = ctx.ws, ctx.user
session = chat_list(ws, user, current_session(user))

st.title("Chat")
ready, status = ws.llm_status()
if ready:
    st.caption(f"Model: {plain(status)}")
    scope_picker(ws, user, session)
else:
    st.info(SETUP_TEXT, icon=":material/smart_toy:")

verified = verified_pairs(ws, user, session)
for index, turn in enumerate(session.turns):
    render_turn(ws, user, session, index, turn, verified)
if ERROR_KEY in st.session_state:
    show_error(st.session_state[ERROR_KEY])

example = None
if not session.turns:
    example = example_buttons(ws, user, ws.scope(user, session.app_id), disabled=not ready)
typed = st.chat_input("Ask about your events, e.g. “How many signups per day last week?”",
                      key="chat.input", disabled=not ready)
question = example or typed
if question:
    ask(ws, user, session, question)
    st.rerun()
