"""Exactly one statement; a trailing semicolon or comment is not a statement."""

from __future__ import annotations

from sqlglot import exp

from guardrails._context import Context
from guardrails._errors import Rejected


def single_statement(ctx: Context) -> None:
    """Set `ctx.tree` to the one statement, or reject with empty_query/multiple_statements."""
    statements = [
        statement
        for statement in ctx.statements
        if statement is not None and not isinstance(statement, exp.Semicolon)
    ]
    if not statements:
        raise Rejected("empty_query", "the query is empty", hint="write one SELECT statement")
    if len(statements) > 1:
        raise Rejected(
            "multiple_statements",
            f"the text holds {len(statements)} statements; exactly one may run",
            hint="remove the ';' and everything after the first statement",
        )
    ctx.tree = statements[0]
