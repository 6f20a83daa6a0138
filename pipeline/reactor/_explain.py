"""Why a rule would, or would not, fire for one event: :func:`explain`.

The answer is plain data for a person testing a rule against recent events: whether the app,
category and event type fit (naming the rule's glob when one does not), then every leaf of the
condition tree with its field, operator, expected value, the event's actual value and its
outcome. Each leaf is compiled on its own with :func:`compile_conditions`, and the verdict
itself is the whole rule's compiled predicate, so the semantics stay in one place
(:mod:`pipeline.reactor._conditions`). ``reasons`` names only the leaves that decided a
``False``: under ``not`` a leaf that was true, under ``and`` the false ones, under ``or`` all.
Throttling and the rule's ``enabled`` switch are not considered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from pipeline.reactor._conditions import (
    _ATTRIBUTE,
    Event,
    _children,
    _getter,
    _operator,
    compile_conditions,
)
from pipeline.reactor._errors import format_loc
from pipeline.reactor._firing import event_view
from pipeline.reactor._index import matcher
from pipeline.reactor._rules import Rule

MAX_SHOWN_CHARS = 80  # of an expected or actual value
MISSING = "(missing)"
_SCOPE = ("app_id", "category", "event_type")


@dataclass(frozen=True)
class ScopeCheck:
    """One of app, category and event type: the rule's name or glob (None: any) and the event's."""

    field: str
    expected: str | None
    actual: str | None
    matched: bool


@dataclass(frozen=True)
class LeafCheck:
    """One leaf condition on this event; ``at`` locates it, e.g. ``conditions.and[1].eq``."""

    at: str
    field: str
    operator: str
    expected: str  # JSON text, truncated; empty for ``exists``
    actual: str  # JSON text, truncated, or MISSING
    result: bool


@dataclass(frozen=True)
class Verdict:
    """Whether the rule matches the event, and why not when it does not."""

    matches: bool
    scope: tuple[ScopeCheck, ...]
    leaves: tuple[LeafCheck, ...]
    conditions: bool | None  # the whole tree's outcome; None without conditions, or unreadable
    reasons: tuple[str, ...]


def explain(rule: Rule, event_row: Mapping[str, Any]) -> Verdict:
    """The verdict for ``event_row`` (a row of ``events``: ``properties`` and ``context`` as JSON
    text, or already decoded)."""
    scope = tuple(_scope_check(name, getattr(rule, name), event_row.get(name))
                  for name in _SCOPE)
    reasons = [_scope_reason(check) for check in scope if not check.matched]
    try:
        view = _view(event_row)
    except (orjson.JSONDecodeError, TypeError) as exc:
        reasons.append(f"properties or context is not JSON: {exc}")
        return Verdict(False, scope, (), None, tuple(reasons))
    if rule.conditions is None:
        return Verdict(not reasons, scope, (), None, tuple(reasons))
    outcome = compile_conditions(rule.conditions)(view)
    leaves: dict[int, LeafCheck] = {}
    results: dict[int, bool] = {}
    _walk(rule.conditions, ("conditions",), view, leaves, results)
    blamed = _blame(rule.conditions, True, results)
    reasons.extend(_leaf_reason(leaves[id(node)], want) for node, want in blamed)
    if not outcome and not blamed:  # pragma: no cover - the tree and the predicate agree
        reasons.append("the conditions are false")
    return Verdict(outcome and all(c.matched for c in scope), scope, tuple(leaves.values()),
                   outcome, tuple(reasons))


def _view(row: Mapping[str, Any]) -> dict[str, Any]:
    decoded = {key: row[key] for key in ("properties", "context")
               if isinstance(row.get(key), Mapping)}
    view = event_view({k: v for k, v in row.items() if k not in decoded})
    view.update(decoded)
    return view


def _scope_check(name: str, pattern: str | None, actual: Any) -> ScopeCheck:
    value = None if actual is None else str(actual)
    if name == "app_id":
        matched = value == pattern
    else:
        matched = value is not None and matcher(pattern)(value)
        matched = matched or pattern is None or pattern.strip("*") == ""
    return ScopeCheck(name, pattern, value, matched)


def _scope_reason(check: ScopeCheck) -> str:
    kind = "glob" if check.expected and set("*?") & set(check.expected) else "name"
    return (f"{check.field} {_shown(check.actual)} does not match the rule's {kind} "
            f"{_shown(check.expected)}")


def _walk(node: Any, loc: tuple[str | int, ...], view: Event, out: dict[int, LeafCheck],
          results: dict[int, bool]) -> bool:
    """Evaluate every node (no short circuit), keeping each leaf's check (in order) and each
    node's result, by the node's id."""
    op = _operator(node)
    kids = _children(node)
    if kids:
        values = [_walk(child, (*loc, *where), view, out, results) for where, child in kids]
        result = all(values) if op == "and" else any(values) if op == "or" else not values[0]
    else:
        arg = getattr(node, _ATTRIBUTE.get(op or "", op or ""))
        result = compile_conditions(node)(view)
        actual = _getter(tuple(arg.field.split(".")))(view)
        out[id(node)] = LeafCheck(format_loc((*loc, op or "")), arg.field, op or "",
                                  _expected(arg), MISSING if actual is None else _shown(actual),
                                  result)
    results[id(node)] = result
    return result


def _blame(node: Any, want: bool, results: dict[int, bool]) -> list[tuple[Any, bool]]:
    """The leaves (with the outcome each needed) that kept ``node`` from being ``want``."""
    if results[id(node)] == want:
        return []
    op = _operator(node)
    kids = [child for _, child in _children(node)]
    if not kids:
        return [(node, want)]
    if op == "not":
        return _blame(kids[0], not want, results)
    # and wanted true / or wanted false: the children that were not `want` are to blame;
    # and wanted false / or wanted true: every child was the opposite, so all of them are
    return [found for child in kids for found in _blame(child, want, results)]


def _leaf_reason(leaf: LeafCheck, want: bool) -> str:
    expected = f" {leaf.expected}" if leaf.expected else ""
    return (f"{leaf.at}: {leaf.field} {leaf.operator}{expected} is {str(not want).lower()}"
            f" (actual {leaf.actual}), needed {str(want).lower()}")


def _expected(arg: Any) -> str:
    for name in ("value", "values", "pattern"):
        if hasattr(arg, name):
            value = getattr(arg, name)
            return _shown(list(value) if isinstance(value, tuple) else value)
    return ""


def _shown(value: Any) -> str:
    if value is None:
        return "null"
    try:
        text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= MAX_SHOWN_CHARS else text[: MAX_SHOWN_CHARS - 1] + "…"
