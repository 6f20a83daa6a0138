"""Trino syntax → DuckDB SQL, keeping Trino's meaning where plain transpilation would not.

sqlglot maps Trino's ``date_diff(unit, a, b)`` to DuckDB's ``date_diff``, which counts unit
boundaries crossed (10:59 → 11:00 is one hour); Trino counts whole units elapsed, which is
DuckDB's ``date_sub``. Integer division is the other known difference: Trino's ``5 / 2`` is 2,
DuckDB's 2.5 unless the connection sets ``integer_division = true`` (the DuckDB engine does).
Decimal literals differ too: Trino keeps the literal's scale (``round(100.0 * a / b, 2)`` is
``decimal(…, 1)``), DuckDB computes in double; cast to ``double`` for identical results.
"""

from __future__ import annotations

import functools

import sqlglot
from sqlglot import exp

from warehouse.engines._base import EngineError


def duckdb_sql(tree: exp.Expr) -> str:
    """DuckDB SQL for ``tree`` (a Trino query); ``tree`` itself is left untouched."""
    copy = tree.copy()
    for node in list(copy.find_all(exp.DateDiff)):
        node.replace(_elapsed(node))
    return copy.sql(dialect="duckdb", copy=False)


@functools.lru_cache(maxsize=2048)
def to_duckdb(sql: str) -> str:
    """Trino SQL text → DuckDB SQL; cached because dashboards repeat their queries."""
    try:
        return duckdb_sql(sqlglot.parse_one(sql, read="trino"))
    except sqlglot.errors.SqlglotError as err:
        raise EngineError(f"cannot translate the query for DuckDB: {err}", code="bad_sql",
                          hint="check the SQL syntax (Trino dialect)") from None


def _elapsed(node: exp.DateDiff) -> exp.Expr:
    unit = node.args.get("unit")
    name = unit.name.lower() if unit is not None else "day"
    return exp.Anonymous(
        this="DATE_SUB", expressions=[exp.Literal.string(name), node.expression, node.this]
    )
