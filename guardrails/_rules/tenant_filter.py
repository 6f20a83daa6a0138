"""Restrict every scan of tenant data to the policy's tenant, in the syntax tree.

Each reference to a tenant table, wherever it sits (joins, set operations, CTEs,
subqueries, LATERAL, EXISTS, IN), is replaced by a filtered subquery under the same
name: `events AS e` becomes `(SELECT * FROM events WHERE app_id = 'a') AS e`. Column
references keep resolving, and no predicate the analyst writes (`OR 1=1`, an outer join,
`app_id = 'other'`) can widen the scan. Tenant tables are the policy's `tenant_tables`
plus, failing closed, any catalog table that has the tenant column.
"""

from __future__ import annotations

from sqlglot import exp

from guardrails._context import Context
from guardrails._errors import Rejected

# Arguments of the scan itself: they move inside the filtered subquery.
_SCAN_ARGS = frozenset({"sample", "version", "system_time"})
# Arguments of the relation: they stay outside, on the replacing subquery.
_RELATION_ARGS = frozenset({"joins", "laterals", "pivots"})


def tenant_filter(ctx: Context) -> None:
    """Wrap each tenant-table reference in a filtered subquery; record `tenant_filter`."""
    policy = ctx.policy
    tenant = policy.tenant_app_id
    if tenant is None:
        return
    column = policy.tenant_column
    wrapped = 0
    for table in ctx.table_refs:
        name = table.name.lower()
        columns = ctx.catalog.tables[name]
        if name not in policy.tenant_tables and column not in columns:
            continue
        if column not in columns:
            raise Rejected(
                "tenant_column_missing",
                f"tenant table {name} has no column {column}, so it cannot be filtered",
                hint="fix the catalog or the policy's tenant_column",
                table=name,
                column=column,
            )
        table.replace(_filtered(table, column, tenant))
        wrapped += 1
    if wrapped:
        ctx.changes.append("tenant_filter")


def _filtered(table: exp.Table, column: str, tenant: str) -> exp.Subquery:
    used = {key for key, value in table.args.items() if value not in (None, [], False)}
    unexpected = used - {"this", "alias"} - _SCAN_ARGS - _RELATION_ARGS
    if unexpected:
        raise Rejected(
            "tenant_filter_unsupported",
            f"{table.name} is read with {', '.join(sorted(unexpected))}, which the tenant "
            "filter cannot wrap",
            hint="read the table plainly, e.g. FROM events AS e",
            table=table.name,
        )
    scan = exp.Table(this=table.this.copy())
    predicate = exp.EQ(
        this=exp.column(exp.to_identifier(column)), expression=exp.Literal.string(tenant)
    )
    select = exp.Select(
        expressions=[exp.Star()], from_=exp.From(this=scan), where=exp.Where(this=predicate)
    )
    alias = table.args.get("alias") or exp.TableAlias(this=table.this.copy())
    subquery = exp.Subquery(this=select, alias=alias)
    for key in used:
        if key in _SCAN_ARGS:
            scan.set(key, table.args[key])
        elif key in _RELATION_ARGS:
            subquery.set(key, table.args[key])
    return subquery
