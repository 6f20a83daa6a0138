"""`plain`: any text a person or a result supplies, shown literally inside Streamlit markdown."""

from __future__ import annotations

import pytest

from tests.workspace.app._markdown import WORD_JOINER, literal_text
from workspace.app._look import code, plain

HOSTILE = [
    "[click](javascript:alert(1))",
    "<img src=x onerror=alert(1)>",
    "**bold** _it_ ~~gone~~ `code`",
    ":red[red] :blue-background[b] :material/star: :smile: :+1: :-1:",
    "www.evil.example and ann@evil.example and https://evil.example",
    "&lt;b&gt; &amp; &#60;",
    "# heading\n- item\n1. first\n2) second\n> quote\n===\n| a | b |",
    "$x^2$ and $$y$$",
    "back\\slash\\",
]


def test_every_markdown_trigger_is_shown_literally() -> None:
    for text in HOSTILE:
        assert literal_text(plain(text, limit=500)) == text
    assert literal_text(plain("a.b<" * 50, limit=10)) == "a.b<a.b<a."  # cut, then escaped


def test_shortcodes_and_autolinks_are_broken_by_invisible_joiners() -> None:
    """Streamlit finds emoji, icons and GFM autolinks in the text after escapes are resolved
    (seen in chromium: ``https\\:\\/\\/x\\.y`` still became a link)."""
    text = ":smile: :-1: :material/star: www.evil.example https://evil.example a@b.example"
    resolved = plain(text, limit=500).replace("\\", "")
    assert resolved.replace(WORD_JOINER, "") == text
    assert ":smile:" not in resolved and "www." not in resolved and "a@b" not in resolved
    assert "https://" not in resolved


@pytest.mark.parametrize(("text", "shown"), [
    ("event_type", "`event_type`"),
    ("a`b", "``a`b``"),
    ("`x``", "``` `x`` ```"),
    ("two\nlines", "`two lines`"),
])
def test_code_spans_hold_any_name(text: str, shown: str) -> None:
    assert code(text) == shown
