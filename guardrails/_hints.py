"""Suggestions for misspelt names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from sqlglot import exp

MAX_LISTED = 12


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate most like `name`, if any is close enough to be a likely typo."""
    matches = difflib.get_close_matches(name.lower(), sorted(set(candidates)), n=1, cutoff=0.6)
    return matches[0] if matches else None


def suggest(name: str, candidates: Iterable[str], kind: str) -> str:
    """'did you mean x?' when one is close, else the list of valid names."""
    pool = sorted(set(candidates))
    match = closest(name, pool)
    if match is not None:
        return f"did you mean {match}?"
    listed = ", ".join(pool[:MAX_LISTED]) + (", ..." if len(pool) > MAX_LISTED else "")
    return f"known {kind}: {listed}" if pool else f"check the spelling of {name}"


def function_name(node: exp.Func) -> str:
    """The function's name as an analyst would write it, lower-case."""
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    return node.sql(dialect="trino").split("(", 1)[0].strip().lower()
