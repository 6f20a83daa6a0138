"""Build Trino SQL from constant templates and values, never from concatenated user text.

Templates are our own SQL with ``:name`` placeholders; each placeholder is replaced by a
sqlglot node: a literal built with `lit` (quoted and escaped by sqlglot), an allow-listed
column, or a sub-expression built the same way. Units (``day``, ``week``) come from closed
enums and are looked up in fixed tables, never taken from input text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime, time
from functools import lru_cache

import sqlglot
from sqlglot import exp

TRINO = "trino"
Value = exp.Expr | str | int | float | bool | None


def lit(value: str | int | float | bool | None) -> exp.Expr:
    """A SQL literal for a Python value (strings are quoted and escaped by sqlglot)."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("numbers must be finite")
        return exp.Literal.number(repr(value))
    return exp.Literal.string(value)


def timestamp(day: date) -> exp.Expr:
    """``CAST('YYYY-MM-DD 00:00:00' AS TIMESTAMP)``: midnight UTC of ``day``."""
    text = datetime.combine(day, time.min).strftime("%Y-%m-%d %H:%M:%S")
    return exp.cast(exp.Literal.string(text), exp.DataType.build("timestamp"))


def col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table)


@lru_cache(maxsize=512)
def _parsed(template: str) -> exp.Expr:
    return sqlglot.parse_one(template, read=TRINO)


def sql(template: str, values: Mapping[str, Value] | None = None) -> exp.Expr:
    """Parse a constant Trino template and put a fresh node in place of each ``:name``."""
    given = dict(values or {})
    used: set[str] = set()

    def replace(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Placeholder) and node.name:
            if node.name not in given:
                raise KeyError(f"no value for :{node.name}")
            used.add(node.name)
            value = given[node.name]
            return value.copy() if isinstance(value, exp.Expr) else lit(value)
        return node

    tree = _parsed(template).copy().transform(replace)
    unused = set(given) - used
    if unused:
        raise KeyError(f"unused values: {sorted(unused)}")
    return tree


def and_(conditions: list[exp.Expr]) -> exp.Expr:
    """All conditions joined by AND, flattened; an OR inside is parenthesised."""
    leaves: list[exp.Expr] = []
    stack = list(reversed(conditions))
    while stack:
        node = stack.pop()
        if isinstance(node, exp.And):
            stack.extend([node.expression, node.this])
        elif isinstance(node, exp.Boolean) and node.this is True:
            continue
        else:
            leaves.append(exp.paren(node, copy=False) if isinstance(node, exp.Connector)
                          else node)
    if not leaves:
        return exp.true()
    return exp.and_(*leaves, copy=False)


def with_ctes(ctes: list[tuple[str, exp.Expr]], final: exp.Expr) -> exp.Expr:
    """``WITH name AS (query), ... final``."""
    assert isinstance(final, exp.Query)
    query = final
    for name, body in ctes:
        query = query.with_(name, as_=body, copy=False)
    return query


def to_trino(tree: exp.Expr) -> str:
    return tree.sql(dialect=TRINO, pretty=True)
