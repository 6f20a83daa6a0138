"""Every relation is a catalog table, a CTE, a subquery, UNNEST or VALUES.

Names are written bare (`events`): any catalog or schema qualifier is refused, so
`system.runtime.queries`, `information_schema.columns` or `hive.default.t` never reach
an engine. Table functions and file paths (`read_parquet(...)`, `FROM 'x.parquet'`) are
refused too. A CTE may not reuse a catalog table's name: engines scope such names
differently, and the tenant filter must know which references are real tables.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from sqlglot import exp

from guardrails._context import Context
from guardrails._errors import Rejected
from guardrails._hints import function_name, suggest

# Engine metadata, other databases, and names only a quoted file path or URL can have.
_SYSTEM_NAME = re.compile(r"^(duckdb_|pg_|sqlite_|pragma_|information_schema|system)|[$./\\:]")
_SOURCES = (exp.Table, exp.Subquery, exp.Unnest, exp.Values, exp.Lateral)
_LATERAL_BODIES = (exp.Subquery, exp.Unnest)


def known_tables(ctx: Context) -> None:
    """Fill `ctx.table_refs` and `ctx.tables`, or reject an unknown or forbidden relation."""
    catalog = ctx.catalog.tables
    ctes = {node.alias_or_name.lower() for node in ctx.nodes if isinstance(node, exp.CTE)}
    for name in sorted(ctes & catalog.keys()):
        raise Rejected(
            "shadowed_table",
            f"a WITH query is named {name}, which hides the table {name}",
            hint=f"rename the WITH query, e.g. {name}_1",
            table=name,
        )
    for node in ctx.nodes:
        if isinstance(node, (exp.From, exp.Join)):
            if not isinstance(node.this, _SOURCES):
                raise _forbidden_source(node.this)
        elif isinstance(node, exp.Lateral):
            if not isinstance(node.this, _LATERAL_BODIES):
                raise _forbidden_source(node.this)
        elif isinstance(node, exp.Table):
            if _is_cte_reference(node, ctes):
                continue
            ctx.table_refs.append(node)
            ctx.tables.add(_table_name(node, catalog))


def _is_cte_reference(table: exp.Table, ctes: set[str]) -> bool:
    return (
        isinstance(table.this, exp.Identifier)
        and not table.args.get("db")
        and not table.args.get("catalog")
        and table.name.lower() in ctes
    )


def _table_name(table: exp.Table, catalog: Mapping[str, Mapping[str, str]]) -> str:
    if not isinstance(table.this, exp.Identifier):
        raise _forbidden_source(table.this)
    name = table.name.lower()
    if table.args.get("db") is not None or table.args.get("catalog") is not None:
        written = table.sql(dialect="trino")
        raise Rejected(
            "forbidden_table",
            f"{written} names a catalog or schema; tables are written without qualifiers",
            hint=f"write {name}" if name in catalog else _allowed(catalog),
            table=written,
        )
    if name in catalog:
        return name
    if _SYSTEM_NAME.search(name):
        raise Rejected(
            "forbidden_table",
            f"{name} is a system table or a file path, not an analytics table",
            hint=_allowed(catalog),
            table=name,
        )
    raise Rejected(
        "unknown_table",
        f"there is no table named {name}",
        hint=suggest(name, catalog, "tables"),
        table=name,
    )


def _allowed(catalog: Mapping[str, Mapping[str, str]]) -> str:
    return "query one of: " + ", ".join(sorted(catalog))


def _forbidden_source(source: exp.Expr) -> Rejected:
    function = _function_name(source)
    if function is not None:
        return Rejected(
            "forbidden_function",
            f"the table function {function} is not allowed",
            hint="read from catalog tables; in FROM only UNNEST may produce rows",
            function=function,
        )
    return Rejected(
        "forbidden_table",
        f"{source.sql(dialect='trino')[:80]} cannot be used as a table",
        hint="read from catalog tables, subqueries, UNNEST or VALUES",
    )


def _function_name(node: exp.Expr) -> str | None:
    # TABLE(system.query(...)) names the function that matters inside.
    if isinstance(node, exp.Anonymous) and node.name.lower() == "table" and node.expressions:
        node = node.expressions[0]
    while isinstance(node, exp.Dot):
        node = node.expression
    return function_name(node) if isinstance(node, exp.Func) else None
