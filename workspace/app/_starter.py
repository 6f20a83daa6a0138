"""Starter content on the pages: the apps' Overview dashboards (made when the Dashboards page
opens) and the Chat page's example questions; what they hold is `workspace.starter`'s."""

from __future__ import annotations

import streamlit as st

from causality.errors import CausalityError
from metadata.users import User
from workspace.service import Workspace
from workspace.starter import apps_with_events, ensure_overviews, example_questions, read_facts
from workspace.starter import runner as starter_runner

CHECK_EVERY_S = 300  # how often one process looks for apps without an Overview


def ensure_starter_dashboards(ws: Workspace, user: User) -> None:
    """An Overview for each app (of those `user` sees) that has events and none yet."""
    if not ws.settings.workspace.starter_content:
        return
    try:
        apps = apps_with_events(ws) if user.app_id is None else [user.app_id]
        _ensure(ws, id(ws), tuple(apps))
    except CausalityError:
        pass  # starter dashboards are a courtesy: the page works without them


@st.cache_data(ttl=CHECK_EVERY_S, show_spinner=False)
def _ensure(_ws: Workspace, _key: int, apps: tuple[str, ...]) -> int:
    return len(ensure_overviews(_ws, apps))


@st.cache_data(ttl=CHECK_EVERY_S, show_spinner=False)
def _examples(_ws: Workspace, _key: int, scope: str | None, actor: str) -> list[str]:
    try:
        run = starter_runner(_ws, scope, actor=actor, source="chat")
        return example_questions(read_facts(run, scope))
    except CausalityError:
        return []


def example_buttons(ws: Workspace, user: User, scope: str | None, *,
                    disabled: bool) -> str | None:
    """Three questions about the data in `scope`, each a button; the one clicked, if any."""
    if not ws.settings.workspace.starter_content:
        return None
    questions = _examples(ws, id(ws), scope, user.username)
    if not questions:
        return None
    st.caption("Try one of these:")
    clicked = None
    for index, (column, question) in enumerate(zip(st.columns(len(questions)), questions,
                                                   strict=True)):
        if column.button(question, key=f"chat.example.{index}", disabled=disabled,
                         width="stretch"):
            clicked = question
    return clicked
