"""The mutable state the rules share while one query is checked."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from guardrails._catalog import Catalog
from guardrails._policy import Policy


@dataclass(eq=False)
class Context:
    """Facts gathered (analysis) and rewrites made (policy) for one query.

    `parse` fills `statements`, `nodes` (every node, pre-order, before any rewrite) and
    `positions` (line and column of each column name's first use);
    `single_statement` picks `tree`; `known_tables` fills `table_refs` (the `exp.Table`
    nodes that are real catalog tables) and `tables`; `known_columns` fills `columns`.
    """

    sql: str
    catalog: Catalog
    policy: Policy
    statements: list[exp.Expr | None] = field(default_factory=list)
    nodes: list[exp.Expr] = field(default_factory=list)
    positions: dict[str, tuple[int, int]] = field(default_factory=dict)
    tree: exp.Expr | None = None
    table_refs: list[exp.Table] = field(default_factory=list)
    tables: set[str] = field(default_factory=set)
    columns: set[tuple[str, str]] = field(default_factory=set)
    changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def query(self) -> exp.Expr:
        """The single statement being checked (set by `single_statement`)."""
        assert self.tree is not None, "single_statement must run before this rule"
        return self.tree
