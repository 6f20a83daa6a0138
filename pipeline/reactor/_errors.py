"""The reactor's errors: the root :class:`ReactorError` and :class:`RuleError` for a bad rule.

A rule is validated by pydantic; our own checks raise ``PydanticCustomError`` whose type is one
of the stable codes in :data:`HINTS`. :func:`rule_error_from` is the one place where a
``ValidationError`` becomes a :class:`RuleError` naming the field, e.g.
``conditions.and[2].regex.pattern``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from pipeline.errors import PipelineError

#: Every code a :class:`RuleError` can carry, with the hint shown next to it.
HINTS: dict[str, str] = {
    "bad_rule": "check the rule against the documented shape",
    "invalid_json": "send the rule as one well-formed JSON object",
    "missing_key": "add the key",
    "unknown_key": "remove the key; rules and conditions accept only documented keys",
    "bad_condition": 'a condition is an object with exactly one operator key, e.g. {"eq": {...}}',
    "unknown_operator": "use one of: and, or, not, eq, ne, in, gt, gte, lt, lte, contains, "
    "exists, regex",
    "bad_field": "a field is properties.<key>[.<key>…], context.<key>[.<key>…], or one of "
    "user_id, anonymous_id, event_type, category, app_id, session_id",
    "field_too_long": "shorten the field path",
    "path_too_long": "address a shallower property",
    "too_deep": "flatten the condition: and/or take many operands",
    "too_many_nodes": "split the rule into several rules",
    "too_many_values": "use fewer values in `in`, or a regex",
    "pattern_too_long": "shorten the regular expression",
    "value_too_long": "compare against a shorter string",
    "bad_value": "use a finite number, a string or a boolean of the type the operator takes",
    "bad_regex": "use RE2 syntax (no backreferences or lookaround)",
    "bad_glob": "use a non-empty name where * matches any run of characters and ? one character",
    "bad_app_id": "use 1-63 characters of a-z, 0-9, '_' and '-', starting with a letter or digit",
}

# pydantic's own error types → our codes; anything unlisted becomes ``bad_rule``.
_PYDANTIC_CODES = {
    "missing": "missing_key",
    "extra_forbidden": "unknown_key",
    "union_tag_not_found": "bad_condition",
    "union_tag_invalid": "unknown_operator",
    "recursion_loop": "too_deep",
    "finite_number": "bad_value",
    "json_invalid": "invalid_json",
}
_RESERVED = frozenset(("field", "code", "hint", "message"))
_OPERATORS = frozenset(
    ("and", "or", "not", "eq", "ne", "in", "gt", "gte", "lt", "lte", "contains", "exists", "regex")
)


class ReactorError(PipelineError):
    """The root of the reactor's errors."""

    code = "reactor_error"


class RuleError(ReactorError):
    """A rule or condition that cannot be accepted; ``facts['field']`` says where."""

    code = "bad_rule"


def rule_error(code: str, field: str, message: str, **facts: Any) -> RuleError:
    """A :class:`RuleError` with ``code``'s hint, naming ``field`` in the message and the facts."""
    return RuleError(f"{field}: {message}", code=code, hint=HINTS[code], field=field, **facts)


def format_loc(loc: Sequence[str | int], *, tagged: bool = False) -> str:
    """``('conditions', 'and', 2, 'regex')`` → ``conditions.and[2].regex``.

    In a pydantic location (``tagged``) a tagged union puts its tag just before the node's own
    key, which is the same operator name: ``('conditions', 'and', 'and', 2, 'regex', 'regex')``.
    Each such pair is written once.
    """
    out = ""
    skip = False
    for i, part in enumerate(loc):
        if skip:
            skip = False
            continue
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        skip = tagged and part in _OPERATORS and i + 1 < len(loc) and loc[i + 1] == part
        out += f".{part}" if out else part
    return out


def rule_error_from(exc: ValidationError, root: Sequence[str | int] = ()) -> RuleError:
    """The first error of ``exc`` as a :class:`RuleError`; ``root`` prefixes its location."""
    errors = exc.errors(include_url=False)
    if not errors:  # pragma: no cover - pydantic always reports at least one
        return rule_error("bad_rule", format_loc(root) or "rule", str(exc))
    first = errors[0]
    kind = first["type"]
    ctx = dict(first.get("ctx") or {})
    field = format_loc((*root, *first["loc"]), tagged=True) or "rule"
    at = ctx.pop("at", ())  # a location inside the raw input, set by checks that see it
    if at:
        field += "" if isinstance(at[0], int) else "."
        field += format_loc(at)
    message = first["msg"]
    if kind in HINTS:
        code = kind
    elif kind == "json_invalid" and "recursion" in str(ctx.get("error", "")):
        code = "too_deep"
    else:
        code = _PYDANTIC_CODES.get(kind, "bad_rule")
    facts = {
        k: v
        for k, v in ctx.items()
        if k not in _RESERVED and isinstance(v, str | int | float | bool)
    }
    if kind == "union_tag_not_found":
        message, facts = "a condition must be an object with exactly one operator key", {}
    elif kind == "union_tag_invalid":
        message, facts = f"unknown operator {ctx.get('tag')!r}", {}
    if len(errors) > 1:
        facts["more_errors"] = len(errors) - 1
    return rule_error(code, field, message, **facts)
