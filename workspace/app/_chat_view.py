"""The chat page's parts: the list of chats, one turn (explanation, assumptions, editable SQL,
table, chart), and asking. Chats and their turns live in the metadata store (`ws.chats`);
result tables only in this browser session, per turn of the open chat."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from causality.errors import CausalityError
from metadata.users import User
from workspace.analyst import Session, Turn
from workspace.app._chat_actions import actions
from workspace.app._look import plain
from workspace.app._results import Shown, from_execution, show_error, show_result
from workspace.app._scope import pick_scope, scope_label
from workspace.service import Workspace

SESSION_KEY = "chat.session"
TURNS_KEY = "chat.turns"
ERROR_KEY = "chat.error"
MAX_CHATS_LISTED = 30
SETUP_TEXT = """The AI analyst needs a language model, and none is set up yet. Set one of these
in the workspace's environment (or its settings file) and restart it:

- **Anthropic**: `CAUSALITY_LLM_PROVIDER=anthropic` and `CAUSALITY_LLM_ANTHROPIC_API_KEY=<your key>`
- **An OpenAI-compatible server** such as Ollama or vLLM: `CAUSALITY_LLM_PROVIDER=openai` and
  `CAUSALITY_LLM_OPENAI_BASE_URL=http://localhost:11434/v1` (add `CAUSALITY_LLM_OPENAI_API_KEY`
  if the server needs a key)

Insights, SQL and Dashboards work without a model."""


@dataclass
class TurnState:
    """What this browser session shows for one turn beyond what the chat store keeps."""

    shown: Shown | None = None
    error: dict[str, Any] | None = None


def current_session(user: User) -> Session:
    session = st.session_state.get(SESSION_KEY)
    if not isinstance(session, Session) or session.actor != user.username:
        session = _new_session(user)
    return session


def _new_session(user: User) -> Session:
    session = Session(app_id=user.app_id, actor=user.username)
    st.session_state[SESSION_KEY] = session
    st.session_state[TURNS_KEY] = {}
    st.session_state.pop(ERROR_KEY, None)
    return session


def turn_states() -> dict[int, TurnState]:
    states: dict[int, TurnState] = st.session_state.setdefault(TURNS_KEY, {})
    return states


def chat_list(ws: Workspace, user: User, session: Session) -> Session:
    """The sidebar: a New chat button and this user's chats, newest first."""
    with st.sidebar:
        st.markdown("**Your chats**")
        if st.button("New chat", key="chat.new", icon=":material/add_comment:", width="stretch"):
            session = _new_session(user)
        for chat in ws.chats.list(actor=user.username, app_id=user.app_id,
                                  limit=MAX_CHATS_LISTED):
            current = chat.chat_id == session.chat_id
            label = plain(chat.title or "Untitled chat", limit=60)
            if st.button(label, key=f"chat.open.{chat.chat_id}", width="stretch",
                         type="primary" if current else "tertiary",
                         help=f"{chat.turns} turns · {scope_label(chat.app_id)} · "
                              f"{chat.updated_at:%Y-%m-%d %H:%M} UTC") and not current:
                session = open_chat(ws, user, chat.chat_id) or session
    return session


def open_chat(ws: Workspace, user: User, chat_id: str) -> Session | None:
    try:
        session = ws.chats.load(chat_id)
    except CausalityError as err:
        show_error(err)
        return None
    if session.actor != user.username or user.app_id not in (None, session.app_id):
        show_error({"code": "forbidden", "message": "this chat belongs to someone else",
                    "hint": "start a new chat"})
        return None
    st.session_state[SESSION_KEY] = session
    st.session_state[TURNS_KEY] = {}
    st.session_state.pop(ERROR_KEY, None)
    return session


def scope_picker(ws: Workspace, user: User, session: Session) -> None:
    """A new chat may still choose its app scope; a started one keeps it."""
    if session.turns or user.app_id is not None:
        st.caption(f"This chat covers {scope_label(session.app_id)}.")
        return
    session.app_id = pick_scope(ws, user, key=f"chat.scope.{session.chat_id}",
                                label="App scope for this chat")


def ask(ws: Workspace, user: User, session: Session, question: str) -> None:
    """Ask, keep the answer's table for this session, and say what went wrong if it did."""
    st.session_state.pop(ERROR_KEY, None)
    before = len(session.turns)
    with st.chat_message("user"):
        st.markdown(plain(question, limit=2000))
    with st.chat_message("assistant"), st.spinner("Thinking…"):
        try:
            answer = ws.ask(question, session, user)
        except CausalityError as err:
            if len(session.turns) == before:  # refused before it became a turn
                st.session_state[ERROR_KEY] = err.to_dict()
            return
    plan = answer.plan
    source = getattr(plan.query, "sql", None)
    turn_states()[len(session.turns) - 1] = TurnState(shown=Shown(
        sql=answer.sql, table=answer.table, chart=answer.chart, question=answer.question,
        insight=None if answer.insight_kind == "sql" else answer.insight_kind,
        scope=session.app_id, flags=answer.flags, source_sql=source,
        points=answer.chart_table))


def render_turn(ws: Workspace, user: User, session: Session, index: int, turn: Turn,
                verified: set[tuple[str, str]]) -> None:
    key = f"chat.{session.chat_id}.{index}"
    state = turn_states().setdefault(index, TurnState())
    with st.chat_message("user"):
        st.markdown(plain(turn.question, limit=2000))
    with st.chat_message("assistant"):
        if not turn.ok:
            show_error(turn.error or {"code": "answer_failed", "message": "no answer"})
            return
        if turn.plan is not None:
            st.markdown(plain(turn.plan.explanation, limit=2000))
            if turn.plan.assumptions:
                st.markdown("**Assumptions**\n" + "\n".join(
                    f"- {plain(a, limit=500)}" for a in turn.plan.assumptions))
        if turn.sql:
            _sql_editor(ws, user, session, turn, state, key)
        if state.shown is not None:
            show_result(state.shown, key=key)
        elif state.error is None:
            st.caption("Tables are not kept with a chat: open SQL above and run it to see "
                       "the table and the chart again.")
        actions(ws, user, session, turn, state.shown, verified, key)


def _sql_editor(ws: Workspace, user: User, session: Session, turn: Turn, state: TurnState,
                key: str) -> None:
    assert turn.sql is not None
    with st.expander("SQL", icon=":material/code:"):
        text = st.text_area("The SQL that ran (Trino). Edit it and run it again; it goes "
                            "through the guardrails like any query.", value=turn.sql,
                            key=f"{key}.sql", height=160)
        if st.button("Run this SQL", key=f"{key}.run", icon=":material/play_arrow:"):
            state.error = None
            try:
                run = ws.run_sql(text, user=user, app_id=session.app_id, source="sql",
                                 question=turn.question)
            except CausalityError as err:
                state.error = err.to_dict()
            else:
                same = text.strip() == turn.sql.strip()
                kind = turn.plan.query.kind if same and turn.plan is not None else None
                previous = state.shown.chart if state.shown else None
                state.shown = from_execution(
                    run, question=turn.question, insight=None if kind == "sql" else kind,
                    scope=session.app_id, chart=previous or (turn.plan.chart if turn.plan
                                                             else None),
                    source_sql=None if same else text, ws=ws, actor=user.username,
                    written=text)
        if state.error is not None:
            show_error(state.error)
