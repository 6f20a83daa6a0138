"""Which pages a signed-in person sees: one table, read by role.

Viewers see dashboards only; analysts also chat, run insights and SQL, and share; admins also
manage settings and people. Each page checks the role again itself (`page_context`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from metadata.users import Role, User

APP_DIR = Path(__file__).resolve().parent  # page paths are relative to it


@dataclass(frozen=True)
class PageEntry:
    path: str
    title: str
    icon: str
    role: Role
    url: str  # never the file's own name: see below


# Streamlit treats a folder named ``pages`` next to the main script as its old multipage
# mode until a run calls `st.navigation`, and serves each file there under its own name.
# URLs that differ from the file names keep every run going through main.py (in AppTest,
# which restarts in that mode on each run, too): an old-mode URL meets no page of ours.
PAGES: tuple[PageEntry, ...] = (
    PageEntry("views/chat.py", "Chat", ":material/chat:", "analyst", "ask"),
    PageEntry("views/insights.py", "Insights", ":material/insights:", "analyst", "explore"),
    PageEntry("views/sql.py", "SQL", ":material/terminal:", "analyst", "query"),
    PageEntry("views/dashboards.py", "Dashboards", ":material/dashboard:", "viewer", "boards"),
    PageEntry("views/share.py", "Share", ":material/share:", "analyst", "embed-links"),
    PageEntry("views/alerts.py", "Alerts", ":material/notifications:", "analyst", "alerts"),
    PageEntry("views/settings.py", "Settings", ":material/settings:", "admin", "setup"),
    PageEntry("views/access.py", "Access", ":material/group:", "admin", "people"),
)
SIGNIN = PageEntry("views/signin.py", "Sign in", ":material/login:", "viewer", "login")


def entries_for(user: User) -> list[PageEntry]:
    """The pages `user` may open, in menu order."""
    return [p for p in PAGES if user.can(p.role)]


def pages_for(user: User | None) -> list[StreamlitPage]:
    """The menu. Signed out, every page's URL shows the sign-in page, so a shared link (say
    ``/boards?d=...``) keeps its address and opens its view right after signing in."""
    if user is None:
        return [_page(SIGNIN, default=True), *(_page(dataclasses.replace(
            SIGNIN, url=p.url), default=False, hidden=True) for p in PAGES)]
    entries = entries_for(user)
    return [_page(p, default=i == 0) for i, p in enumerate(entries)]


def _page(entry: PageEntry, *, default: bool, hidden: bool = False) -> StreamlitPage:
    return st.Page(APP_DIR / entry.path, title=entry.title, icon=entry.icon, url_path=entry.url,
                   default=default, visibility="hidden" if hidden else "visible")
