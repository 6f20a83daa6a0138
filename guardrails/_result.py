"""What a successful check hands to an engine."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CheckedQuery:
    """A query that passed the policy, in both dialects, with the facts about it.

    `sql` is canonical Trino SQL (what gets audited); `duckdb_sql` is the same tree
    transpiled for DuckDB. `changes` lists the rewrites made (`tenant_filter`,
    `limit_injected`, `limit_clamped`); `warnings` holds advisory violations
    ("code: message") when the policy runs in warn mode.
    """

    sql: str
    duckdb_sql: str
    tables: frozenset[str]
    columns: frozenset[tuple[str, str]]
    changes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
