"""The statement is a query, and nothing anywhere in its tree writes or changes state.

The root is allow-listed (SELECT, set operations, possibly parenthesised); every other
node is checked against a deny-list of statement-like node types, so a write hidden in a
CTE (`WITH x AS (DELETE …)`), `SELECT … INTO` or `FOR UPDATE` is found wherever it sits.
"""

from __future__ import annotations

from sqlglot import exp

from guardrails._context import Context
from guardrails._errors import Rejected

# Every node type defined in these sqlglot modules is a statement or part of one.
_DENIED_MODULES = frozenset(
    f"sqlglot.expressions.{name}" for name in ("ddl", "dml", "properties", "constraints")
)
_DENIED_NAMES = frozenset(
    """
    AddPartition Analyze Block Cache CaseStatement ColumnDef ConditionalInsert DropPartition
    EndStatement ForIn Get Grant IfBlock Into Iterate Leave ListStage Lock LockingStatement
    LoopBlock MultitableInserts Put QueryBand Refresh RepeatBlock ReplacePartition Return Revoke
    StoredProcedure Stream Uncache UsingData WhileBlock
    """.split()  # noqa: SIM905 - a word list reads better than 33 quoted strings
)
_DENIED = tuple(
    cls
    for name in dir(exp)
    if isinstance(cls := getattr(exp, name), type)
    and issubclass(cls, exp.Expr)
    and (cls.__module__ in _DENIED_MODULES or name in _DENIED_NAMES)
)
_HINT = "only read-only SELECT queries (optionally WITH ... SELECT) may run"


def read_only(ctx: Context) -> None:
    """Reject with not_read_only unless the statement is a pure query."""
    root = ctx.query
    inner = root
    while isinstance(inner, exp.Subquery):
        inner = inner.this
    if not isinstance(inner, (exp.Select, exp.SetOperation)):
        raise Rejected("not_read_only", f"{_describe(root)} is not a query", hint=_HINT)
    for node in ctx.nodes:
        if _denied(type(node)) and not _field_of_a_type(node):
            raise Rejected(
                "not_read_only", f"{_describe(node)} is not allowed in a query", hint=_HINT
            )


def _field_of_a_type(node: exp.Expr) -> bool:
    """A field of a ROW type (`CAST(x AS ROW(a varchar))`) parses as a column definition."""
    return type(node) is exp.ColumnDef and type(node.parent) is exp.DataType


_VERDICTS: dict[type[exp.Expr], bool] = {}


def _denied(cls: type[exp.Expr]) -> bool:
    verdict = _VERDICTS.get(cls)
    if verdict is None:
        verdict = _VERDICTS[cls] = issubclass(cls, _DENIED)
    return verdict


def _describe(node: exp.Expr) -> str:
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    if isinstance(node, exp.Into):
        return "SELECT ... INTO"
    if isinstance(node, exp.Lock):
        return "SELECT ... FOR UPDATE/SHARE"
    if isinstance(node, exp.TruncateTable):
        return "TRUNCATE"
    if isinstance(node, exp.Transaction):
        return "START TRANSACTION"
    if _denied(type(node)):
        return node.key.upper()
    # Not a statement at all (`INSTALL httpfs` parses as an alias): name its first word.
    return node.sql(dialect="trino").split(" ", 1)[0].upper()
