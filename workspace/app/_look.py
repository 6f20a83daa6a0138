"""One look for every page: the page config, a few style touches, and safe text in markdown.

Colours and fonts come from the theme in ``.streamlit/config.toml`` next to ``main.py``
(Streamlit reads a config file beside the main script); this only tightens spacing.
"""

from __future__ import annotations

import re

import streamlit as st

TITLE = "Causality"
ICON = ":material/insights:"
_CSS = """
<style>
  .block-container { padding-top: 2.2rem; padding-bottom: 2rem; max-width: 1400px; }
  [data-testid="stSidebarUserContent"] { padding-top: 0.5rem; }
  h1 { font-weight: 650; letter-spacing: -0.02em; }
</style>
"""
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#!|~$:])")  # links, HTML, emphasis, :directives:


def apply_look() -> None:
    st.set_page_config(page_title=TITLE, page_icon=ICON, layout="wide",
                       initial_sidebar_state="auto")
    st.html(_CSS)


def plain(text: object, limit: int = 200) -> str:
    """``text`` shown literally inside markdown (values from a URL or a person can hold
    link syntax or HTML; they must never turn into either)."""
    return _MARKDOWN.sub(r"\\\1", str(text)[:limit])
