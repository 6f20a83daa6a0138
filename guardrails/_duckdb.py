"""Trino syntax tree -> DuckDB SQL, keeping Trino's meaning where plain transpilation would not.

sqlglot maps Trino's `date_diff(unit, a, b)` to DuckDB's `date_diff`, which counts unit
boundaries crossed (10:59 -> 11:00 is one hour); Trino counts whole units elapsed, which
is DuckDB's `date_sub`. Integer division is the other known difference: Trino's `5 / 2`
is 2, DuckDB's 2.5 unless the connection sets `integer_division = true` (an engine
setting, not expressible in one SELECT).
"""

from __future__ import annotations

from sqlglot import exp


def duckdb_sql(tree: exp.Expr) -> str:
    """DuckDB SQL for `tree` (a checked Trino query); `tree` itself is left untouched."""
    copy = tree.copy()
    for node in list(copy.find_all(exp.DateDiff)):
        node.replace(_elapsed(node))
    return copy.sql(dialect="duckdb", copy=False)


def _elapsed(node: exp.DateDiff) -> exp.Expr:
    unit = node.args.get("unit")
    name = unit.name.lower() if unit is not None else "day"
    return exp.Anonymous(
        this="DATE_SUB", expressions=[exp.Literal.string(name), node.expression, node.this]
    )
