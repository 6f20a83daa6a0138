"""Rephrasings the planner answers for sure, built from the catalog's own names (for the
chat to offer when a question was not understood)."""

from __future__ import annotations

from workspace.analyst.plan import Plan, SqlQuery
from workspace.analyst.rules._lexicon import Lexicon

MAX_SUGGESTIONS = 3


def suggestions(plan: Plan | None, lex: Lexicon) -> list[str]:
    query = plan.query if plan is not None else None
    named = [e for e in (query.event_names() if query is not None and not isinstance(
        query, SqlQuery) else []) if e is not None]
    events = list(dict.fromkeys([*named, *lex.events]))
    keys = [k.partition(".")[2] for k in lex.keys if k.startswith("properties.")]
    first = events[0] if events else None
    out: list[str] = []
    if first is not None:
        out.append(f"How many {first} events per day in the last 7 days?")
    if len(events) >= 2:
        out.append(f"Funnel from {events[0]} to {events[1]} within 7 days")
    if first is not None and keys:
        out.append(f"Unique users who did {first} by {keys[0]} last month")
    out.append("Top events last week")
    return out[:MAX_SUGGESTIONS]
