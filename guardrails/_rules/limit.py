"""The outermost query returns at most `policy.max_rows` rows.

A missing LIMIT is added (`limit_injected`), a larger one lowered (`limit_clamped`);
OFFSET and ORDER BY are kept. On a set operation the LIMIT applies to the whole result,
on a parenthesised query it goes outside the parentheses. A LIMIT that is not an integer
literal, or FETCH ... PERCENT / WITH TIES, cannot be bounded and is advisory.
"""

from __future__ import annotations

from sqlglot import exp

from guardrails._context import Context
from guardrails._errors import Rejected


def limit(ctx: Context) -> None:
    """Inject or clamp the outermost LIMIT (or FETCH FIRST)."""
    root = ctx.query
    max_rows = ctx.policy.max_rows
    current = root.args.get("limit")
    if current is None:
        root.set("limit", exp.Limit(expression=exp.Literal.number(max_rows)))
        ctx.changes.append("limit_injected")
        return
    if isinstance(current, exp.Fetch):
        options = current.args.get("limit_options")
        if options is not None and (options.args.get("percent") or options.args.get("with_ties")):
            raise _invalid(current)
        key = "count"
    elif isinstance(current, exp.Limit):
        key = "expression"
        if isinstance(current.expression, exp.Var) and current.expression.name.upper() == "ALL":
            current.set(key, exp.Literal.number(max_rows))
            ctx.changes.append("limit_clamped")
            return
    else:
        raise _invalid(current)
    value = current.args.get(key)
    if value is None and key == "count":
        return  # FETCH FIRST ROW ONLY: one row
    if not (isinstance(value, exp.Literal) and value.is_int):
        raise _invalid(current)
    if int(value.name) > max_rows:
        current.set(key, exp.Literal.number(max_rows))
        ctx.changes.append("limit_clamped")


def _invalid(node: exp.Expr) -> Rejected:
    return Rejected(
        "invalid_limit",
        f"{node.sql(dialect='trino')} cannot be bounded",
        hint="use LIMIT with a whole number",
    )
