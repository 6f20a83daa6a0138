"""Every relation is a catalog table, a CTE visible where it is named, a subquery, UNNEST or VALUES.

Each table reference is resolved in its own scope, as the engines do: walking down the
tree, a `WITH` makes its queries visible to the query it belongs to (and to the WITH queries
after each one; with `RECURSIVE`, also to itself). A name is a CTE only where such a
definition is visible; everywhere else it must be a catalog table, or it is refused, so
no CTE defined in one subquery can vouch for a name read in another. Names compare
case-insensitively, as in Trino and DuckDB.

Names are written bare (`events`): any catalog or schema qualifier is refused, so
`system.runtime.queries`, `information_schema.columns` or `hive.default.t` never reach
an engine. Table functions and file paths (`read_parquet(...)`, `FROM 'x.parquet'`) are
refused too. A CTE may reuse a catalog table's name (it then hides the table where it is
visible); such a CTE is renamed in the query that runs, so no engine can read one name
two ways and the tenant filter wraps exactly the references that are the table.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from sqlglot import exp

from guardrails._context import Context
from guardrails._errors import Rejected
from guardrails._hints import function_name, suggest

# Engine metadata, other databases, and names only a quoted file path or URL can have.
_SYSTEM_NAME = re.compile(r"^(duckdb_|pg_|sqlite_|pragma_|information_schema|system)|[$./\\:]")
_SOURCES = (exp.Table, exp.Subquery, exp.Unnest, exp.Values, exp.Lateral)
_LATERAL_BODIES = (exp.Subquery, exp.Unnest)
_RENAMED_SUFFIX = "__cte"

Visible = Mapping[str, exp.CTE]
Push = Callable[[tuple[exp.Expr, Visible]], None]
# CTEs named like a catalog table, by id (sqlglot nodes hash by structure): (CTE, references).
Shadowing = dict[int, tuple[exp.CTE, list[exp.Table]]]
# The recursive step of each recursive WITH query, by id: (its name, the CTE).
Steps = dict[int, tuple[str, exp.CTE]]


def known_tables(ctx: Context) -> None:
    """Fill `ctx.table_refs` and `ctx.tables`, or reject an unknown or forbidden relation."""
    catalog = ctx.catalog.tables
    shadowing: Shadowing = {}
    steps: Steps = {}
    stack: list[tuple[exp.Expr, Visible]] = [(ctx.query, {})]
    pop, push = stack.pop, stack.append
    while stack:
        node, visible = pop()
        if steps and id(node) in steps:  # a recursive step: here its CTE sees itself
            name, step_of = steps[id(node)]
            visible = {**visible, name: step_of}
        if isinstance(node, exp.Table):
            cte = _resolve(node, visible, catalog)
            if cte is None:
                ctx.table_refs.append(node)
                ctx.tables.add(node.name.lower())
            elif id(cte) in shadowing:
                shadowing[id(cte)][1].append(node)
        elif isinstance(node, (exp.From, exp.Join)):
            if not isinstance(node.this, _SOURCES):
                raise _forbidden_source(node.this)
        elif isinstance(node, exp.Lateral) and not isinstance(node.this, _LATERAL_BODIES):
            raise _forbidden_source(node.this)
        with_ = node.args.get("with_")
        if with_ is None:
            for child in node.iter_expressions(reverse=True):
                push((child, visible))
            continue
        inner = _enter(with_, visible, catalog, shadowing, steps, push)
        for child in node.iter_expressions(reverse=True):
            if child is not with_:
                push((child, inner))
    if shadowing:
        _rename(shadowing, catalog, ctx)


def _enter(
    with_: exp.With,
    outer: Visible,
    catalog: Mapping[str, Mapping[str, str]],
    shadowing: Shadowing,
    steps: Steps,
    push: Push,
) -> Visible:
    """Schedule each WITH query's body with the names visible to it; return the names its
    own query sees.

    Under RECURSIVE a query sees itself only in its recursive step, the right-hand side of
    its top-level UNION [ALL], as both engines read it: DuckDB binds any other body as a
    plain CTE, whose own name then means whatever it means outside.
    """
    recursive = bool(with_.args.get("recursive"))
    visible = dict(outer)
    defined: set[str] = set()
    bodies: list[tuple[exp.Expr, Visible]] = []
    for cte in with_.expressions:
        name = cte.alias_or_name.lower()
        if not name or name in defined:
            raise Rejected(
                "duplicate_cte",
                f"the WITH clause defines {name or 'a query without a name'} twice"
                if name
                else "a WITH query has no name",
                hint="give each WITH query its own name",
                table=name or None,
            )
        defined.add(name)
        if name in catalog:
            shadowing[id(cte)] = (cte, [])
        if recursive:
            _check_recursive_columns(cte, name)
            step = cte.this.expression if isinstance(cte.this, exp.Union) else None
            if step is not None:
                steps[id(step)] = (name, cte)
            if name in outer:
                _check_no_outer_self_reference(cte, name, step)
        bodies.append((cte, dict(visible)))
        visible[name] = cte
    for body in reversed(bodies):
        push(body)
    return visible


def _check_no_outer_self_reference(cte: exp.CTE, name: str, step: exp.Expr | None) -> None:
    """Outside its recursive step, a recursive WITH query's own name would mean the enclosing
    WITH query of that name to DuckDB, while Trino refuses it (INVALID_RECURSIVE_REFERENCE):
    refused, so both engines agree."""
    for table in (cte.this if step is None else cte.this.this).find_all(exp.Table):
        if not table.args.get("db") and table.name.lower() == name:
            raise Rejected(
                "invalid_recursive_query",
                f"the WITH RECURSIVE query {name} reads its own name outside its recursive "
                "step, where an enclosing WITH query of that name is visible",
                hint=f"rename {name}, or read it only in the part after UNION ALL",
                table=name,
            )


def _check_recursive_columns(cte: exp.CTE, name: str) -> None:
    """Trino needs a recursive WITH's columns named: from a list, or from its SELECT."""
    alias = cte.args.get("alias")
    if alias is not None and alias.columns:
        return
    body = cte.this
    while isinstance(body, exp.SetOperation):
        body = body.this
    if not isinstance(body, exp.Select) or "*" in body.named_selects:
        raise Rejected(
            "invalid_recursive_query",
            f"the WITH RECURSIVE query {name} does not name its columns",
            hint=f"list them, e.g. WITH RECURSIVE {name}(n) AS (...), or select named columns",
            table=name,
        )


def _resolve(
    table: exp.Table, visible: Visible, catalog: Mapping[str, Mapping[str, str]]
) -> exp.CTE | None:
    """The CTE `table` names where it stands, or None when it is a catalog table."""
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
    cte = visible.get(name)
    if cte is not None:
        return cte
    if name in catalog:
        return None
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
        hint=suggest(name, [*catalog, *visible], "tables"),
        table=name,
    )


def _rename(
    shadowing: Shadowing,
    catalog: Mapping[str, Mapping[str, str]],
    ctx: Context,
) -> None:
    """Give each CTE named like a catalog table a name of its own, keeping the written
    name as the alias of every reference to it (so `events.x` still resolves)."""
    taken = set(catalog) | {
        node.alias_or_name.lower() for node in ctx.nodes if isinstance(node, exp.CTE)
    }
    for number, (cte, references) in enumerate(shadowing.values(), start=1):
        written = cte.args["alias"].this
        fresh = f"{written.name.lower()}{_RENAMED_SUFFIX}{number}"
        while fresh in taken:
            fresh += "_"
        taken.add(fresh)
        cte.args["alias"].set("this", exp.to_identifier(fresh))
        for table in references:
            if not table.args.get("alias"):
                table.set("alias", exp.TableAlias(this=table.this.copy()))
            table.set("this", exp.to_identifier(fresh))
    ctx.changes.append("cte_renamed")


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
