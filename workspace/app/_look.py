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
# Every ASCII punctuation character. Escaped with a backslash, CommonMark shows each as itself, so
# nothing in the text can start a link, HTML, an entity, emphasis, a heading, list, table, math or
# a Streamlit ``:directive[...]``.
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
# Two things are looked for in the text once the escapes are resolved: ``:name:`` (Streamlit's
# emoji and icons) and GFM's literal autolinks (``www.``, ``https://``, ``user@host``). An
# invisible word joiner next to every '.', ':' and '@' leaves neither anything to find.
WORD_JOINER = "\u2060"
_JOINED = {".": WORD_JOINER + "\\.", "@": WORD_JOINER + "\\@",
           ":": WORD_JOINER + "\\:" + WORD_JOINER}


def apply_look() -> None:
    st.set_page_config(page_title=TITLE, page_icon=ICON, layout="wide",
                       initial_sidebar_state="auto")
    st.html(_CSS)


def plain(text: object, limit: int = 200) -> str:
    """``text`` (its first ``limit`` characters) shown literally inside Streamlit markdown.

    Names, titles, questions, column names and values come from people and results and can
    hold link syntax, HTML or directives; they must never turn into any of them."""
    return _PUNCTUATION.sub(lambda m: _JOINED.get(m[1], "\\" + m[1]), str(text)[:limit])


def code(text: object, limit: int = 200) -> str:
    """``text`` as inline code: a code span shows its content literally, provided its fence
    is longer than any run of backticks inside and it stays on one line."""
    body = " ".join(str(text)[:limit].splitlines()) or " "
    fence = "`" * (max((len(run) for run in re.findall(r"`+", body)), default=0) + 1)
    pad = " " if body[0] == "`" or body[-1] == "`" else ""
    return f"{fence}{pad}{body}{pad}{fence}"
