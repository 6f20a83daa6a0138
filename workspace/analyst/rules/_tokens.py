"""Words of a question: one linear pass over its characters, no regular expressions.

A token is a run of letters, digits and underscores; a hyphen inside a run joins an ISO date
(``2026-10-15``) and otherwise splits words (``sign-ups`` → ``sign``, ``ups``); arrows
(``→``, ``->``, ``=>``, ``>``) become the token ``→``. Text beyond `MAX_CHARS` characters
or `MAX_TOKENS` tokens is not read (the answer says so, and is never sure).
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_CHARS = 1_000
MAX_TOKENS = 120
ARROW = "→"
_ARROWS = frozenset("→⟶➔➜⇒>")


@dataclass(frozen=True)
class Token:
    text: str  # lower case
    raw: str  # as typed


def tokenize(question: str) -> tuple[list[Token], bool]:
    """The tokens of `question`, and whether some of it was left unread."""
    truncated = len(question) > MAX_CHARS
    text = question[:MAX_CHARS]
    tokens: list[Token] = []
    word: list[str] = []

    def flush() -> None:
        if word:
            tokens.extend(_split("".join(word)))
            word.clear()

    for i, ch in enumerate(text):
        joins = ch == "-" and word and i + 1 < len(text) and text[i + 1].isalnum()
        if ch.isalnum() or ch == "_" or joins:
            word.append(ch)
        elif ch in _ARROWS:
            flush()
            tokens.append(Token(ARROW, ch))
        else:
            flush()
        if len(tokens) > MAX_TOKENS:
            break
    flush()
    if len(tokens) > MAX_TOKENS:
        return tokens[:MAX_TOKENS], True
    return tokens, truncated


def _split(run: str) -> list[Token]:
    if "-" not in run or is_iso_date(run):
        return [Token(run.lower(), run)]
    return [Token(part.lower(), part) for part in run.split("-") if part]


def is_iso_date(text: str) -> bool:
    """``YYYY-MM-DD`` with ASCII digits (the calendar check is the caller's)."""
    parts = text.split("-")
    return (len(text) == 10 and [len(p) for p in parts] == [4, 2, 2]
            and all(p.isascii() and p.isdigit() for p in parts))


def words(text: str) -> tuple[str, ...]:
    """A catalog name or phrase as the words a question would use for it."""
    tokens, _ = tokenize(text.replace("_", " "))
    return tuple(t.text for t in tokens if t.text != ARROW)
