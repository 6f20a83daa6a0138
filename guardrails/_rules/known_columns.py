"""Every column reference resolves to exactly one column of a table, CTE or subquery.

Runs sqlglot's qualification pieces (normalise identifiers, qualify tables, qualify
columns) on a copy of the tree, never the full optimizer, then validates each scope and
records which catalog columns the query reads. The first two pieces run only when the
query needs them (upper-case identifiers; unaliased derived tables or join constructs).
An unknown column is advisory: in warn mode it becomes a warning and the engine has the
last word.
"""

from __future__ import annotations

import re

from sqlglot import exp
from sqlglot.errors import OptimizeError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.qualify_columns import qualify_columns
from sqlglot.optimizer.qualify_tables import qualify_tables
from sqlglot.optimizer.resolver import Resolver
from sqlglot.optimizer.scope import Scope, traverse_scope

from guardrails._context import Context
from guardrails._errors import Rejected
from guardrails._hints import suggest
from guardrails._rules.parse import TRINO

_UNKNOWN_COLUMN = re.compile(r"Unknown column: (?P<name>.+)")


def known_columns(ctx: Context) -> None:
    """Fill `ctx.columns`, or reject with unknown_column/ambiguous_column/invalid_reference.

    Engine-hidden columns (Trino's `"$path"`, `"$file_size"`, ...) are refused outright
    with forbidden_column, in warn mode too: they expose storage, not analytics data.
    """
    known = {column for columns in ctx.catalog.tables.values() for column in columns}
    for name in ctx.positions:
        if "$" in name and name not in known:
            raise Rejected(
                "forbidden_column",
                f"{name} is an engine-hidden column",
                hint="query the catalog's columns only",
                column=name,
            )
    tree = ctx.query.copy()
    if any(_mixed_case(node) for node in ctx.nodes):
        tree = normalize_identifiers(tree, dialect=TRINO)
    try:
        if any(_unnamed_source(node) for node in ctx.nodes):
            tree = qualify_tables(tree, dialect=TRINO)
        tree = qualify_columns(tree, ctx.catalog.schema, dialect=TRINO)
    except OptimizeError as error:
        raise _translate(error, ctx) from None
    for scope in traverse_scope(tree):
        if isinstance(scope.expression, exp.Select):
            _validate(scope, ctx)
        for column in scope.columns:
            source = scope.sources.get(column.table)
            if isinstance(source, exp.Table):
                ctx.columns.add((source.name, column.name))


def _mixed_case(node: exp.Expr) -> bool:
    return isinstance(node, exp.Identifier) and node.this != node.this.lower()


def _unnamed_source(node: exp.Expr) -> bool:
    """Sources qualify_columns cannot name by itself: it then needs qualify_tables."""
    if isinstance(node, exp.Table):
        return bool(node.args.get("joins") or node.args.get("pivots"))
    return (
        isinstance(node, (exp.Subquery, exp.Values, exp.Unnest, exp.Lateral))
        and isinstance(node.parent, (exp.From, exp.Join))
        and not node.alias
    )


def _validate(scope: Scope, ctx: Context) -> None:
    unresolved = list(scope.unqualified_columns)
    if not scope.is_correlated_subquery and not scope.pivots:
        unresolved += scope.external_columns
    for column in unresolved:
        line, col = ctx.positions.get(column.name.lower(), (None, None))
        if column.table:
            aliases = [name for name, _ in scope.references]
            raise Rejected(
                "unknown_column",
                f"{column.table}.{column.name}: nothing named {column.table} is in scope",
                hint=suggest(column.table, aliases, "tables or aliases here"),
                column=column.name,
                table=column.table,
                line=line,
                col=col,
            )
        owners = sorted(
            name
            for name, (_, source) in scope.selected_sources.items()
            if column.name in _source_columns(source, ctx)
        )
        if len(owners) > 1:
            raise Rejected(
                "ambiguous_column",
                f"column {column.name} exists in {', '.join(owners)}",
                hint=f"qualify it, e.g. {owners[0]}.{column.name}",
                column=column.name,
                line=line,
                col=col,
            )
        candidates = Resolver(scope, ctx.catalog.schema).all_columns
        raise Rejected(
            "unknown_column",
            f"there is no column named {column.name}",
            hint=suggest(column.name, candidates, "columns"),
            column=column.name,
            line=line,
            col=col,
        )


def _source_columns(source: exp.Table | Scope, ctx: Context) -> set[str]:
    if isinstance(source, exp.Table):
        return set(ctx.catalog.tables.get(source.name, {}))
    expression = source.expression
    return set(expression.named_selects) if isinstance(expression, exp.Query) else set()


def _translate(error: OptimizeError, ctx: Context) -> Rejected:
    message = str(error).splitlines()[0]
    match = _UNKNOWN_COLUMN.match(message)
    if match:
        name = match["name"]
        candidates = {col for table in ctx.tables for col in ctx.catalog.tables[table]}
        return Rejected(
            "unknown_column",
            f"there is no column named {name}",
            hint=suggest(name, candidates, "columns"),
            column=name,
        )
    return Rejected("invalid_reference", message, hint="check table aliases and column names")
