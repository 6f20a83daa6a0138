"""A dashboard's date range applied to a tile's SQL.

Every reference to ``events`` in the query is replaced with the same table restricted to the
range on the ``dt`` partition column, so whole partitions are skipped. The result is Trino
SQL to run through the guardrails like any other.
"""

from __future__ import annotations

from datetime import date

import sqlglot
from sqlglot import exp

from workspace.errors import FilterError


def restrict_dates(sql: str, start: date | None, end: date | None,
                   table: str = "events") -> str:
    """``sql`` with each ``table`` reference limited to ``start``..``end`` (inclusive).

    Unparseable SQL is returned unchanged: the guardrails reject it with their own error.
    """
    if start is None and end is None:
        return sql
    try:
        tree = sqlglot.parse_one(sql, read="trino")
    except (sqlglot.errors.SqlglotError, RecursionError):  # e.g. an unterminated string
        return sql
    if any(cte.alias_or_name.lower() == table for cte in tree.find_all(exp.CTE)):
        # Which references such a WITH query hides is the guardrails' scope question; a
        # date range silently applied to the wrong relation would be worse than none.
        raise FilterError(f"the query names a WITH query {table}, so the date range cannot "
                          "be applied", code="filter_unsupported",
                          hint=f"rename the WITH query, e.g. {table}_1")
    dt = exp.column("dt")
    conditions: list[exp.Expr] = []
    if start is not None:
        conditions.append(exp.GTE(this=dt, expression=exp.Literal.string(start.isoformat())))
    if end is not None:
        conditions.append(exp.LTE(this=dt.copy(), expression=exp.Literal.string(end.isoformat())))

    def swap(node: exp.Expr) -> exp.Expr:
        if (isinstance(node, exp.Table) and node.name.lower() == table and not node.args.get(
                "db") and isinstance(node.parent, exp.From | exp.Join)):
            inner = exp.select("*").from_(exp.table_(table)).where(exp.and_(*conditions))
            return inner.subquery(node.alias or table)
        return node

    return tree.transform(swap).sql(dialect="trino")
