"""Reading what a markdown string shows: `literal_text` fails unless every ASCII punctuation
character in it is backslash-escaped (CommonMark then shows it as itself and nothing in it can
start a link, an autolink, HTML, emphasis, a heading, a list, math or a ``:directive[]``)."""

from __future__ import annotations

import re
import string

WORD_JOINER = "\u2060"  # keeps ``:name:`` and ``www.`` text (see workspace.app._look)
_PUNCTUATION = frozenset(string.punctuation)
# What Streamlit still finds in text after the escapes are resolved: GFM literal autolinks and
# ``:name:`` emoji and icons.
_FOUND_IN_TEXT = re.compile(r"www\.|https?://|mailto:|xmpp:|[\w.+-]@\w|:[\w+-]+:",
                            re.IGNORECASE)


def literal_text(markdown: str) -> str:
    """The text `markdown` shows, when it is all literal (no autolink, emoji or icon either);
    an AssertionError otherwise."""
    out: list[str] = []
    i = 0
    while i < len(markdown):
        char = markdown[i]
        if char == "\\" and i + 1 < len(markdown) and markdown[i + 1] in _PUNCTUATION:
            out.append(markdown[i + 1])
            i += 2
            continue
        assert char not in _PUNCTUATION, f"unescaped {char!r} at {i} in {markdown!r}"
        out.append(char)
        i += 1
    resolved = "".join(out)
    found = _FOUND_IN_TEXT.search(resolved)
    assert found is None, f"{found[0]!r} in {resolved!r} becomes a link, an emoji or an icon"
    return resolved.replace(WORD_JOINER, "")


def strong_text(markdown: str) -> str:
    """The literal text inside ``**…**``."""
    assert markdown.startswith("**") and markdown.endswith("**"), markdown
    return literal_text(markdown[2:-2])


def shown(markdown: str) -> str:
    """``markdown`` with its backslash escapes and word joiners undone: roughly the text a
    reader sees, for checking what a message says."""
    out: list[str] = []
    i = 0
    while i < len(markdown):
        if markdown[i] == "\\" and i + 1 < len(markdown) and markdown[i + 1] in _PUNCTUATION:
            i += 1
        out.append(markdown[i])
        i += 1
    return "".join(out).replace(WORD_JOINER, "")
