"""Run the rules over one query and build the result."""

from __future__ import annotations

from guardrails._catalog import CatalogInput, load_catalog
from guardrails._context import Context
from guardrails._duckdb import duckdb_sql
from guardrails._errors import GuardrailError, Rejected
from guardrails._policy import Policy
from guardrails._result import CheckedQuery
from guardrails._rules import ADVISORY_CODES, RULES


def check(sql: str, catalog: CatalogInput, policy: Policy) -> CheckedQuery:
    """Check `sql` (Trino dialect) against `catalog` and `policy`.

    Returns the rewritten query, or raises `Rejected`. Any other failure inside the
    rules is translated to `Rejected` (too_complex for runaway recursion, internal_error
    otherwise): the check fails closed.
    """
    try:
        return _run(sql, catalog, policy)
    except GuardrailError:
        raise
    except RecursionError:
        raise Rejected(
            "too_complex", "the query is nested too deeply to analyse", hint="simplify the query"
        ) from None
    except Exception as error:  # fail closed on anything the rules did not foresee
        raise Rejected(
            "internal_error",
            f"the query could not be analysed ({type(error).__name__})",
            hint="simplify the query; if it is valid, report it",
        ) from error


def _run(sql: str, catalog: CatalogInput, policy: Policy) -> CheckedQuery:
    if not isinstance(sql, str):
        raise Rejected("parse_error", "the query must be text", hint="send the SQL as a string")
    ctx = Context(sql=sql, catalog=load_catalog(catalog), policy=policy)
    for rule in RULES:
        try:
            rule(ctx)
        except Rejected as rejected:
            if policy.mode == "warn" and rejected.code in ADVISORY_CODES:
                ctx.warnings.append(str(rejected))
                continue
            raise
    tree = ctx.query
    duckdb = duckdb_sql(tree)
    return CheckedQuery(
        sql=tree.sql(dialect="trino", copy=False),  # last use of the tree: no copy needed
        duckdb_sql=duckdb,
        tables=frozenset(ctx.tables),
        columns=frozenset(ctx.columns),
        changes=tuple(ctx.changes),
        warnings=tuple(ctx.warnings),
    )
