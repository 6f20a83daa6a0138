"""Parse the text as Trino SQL, failing closed, within size and shape caps.

sqlglot's parser recurses natively and backtracks on type keywords, so some shapes must
be refused from the tokens, before parsing: deep bracket nesting can overflow the C
stack, nested type constructors (`ARRAY[ARRAY[…]]`, `VARCHAR(VARCHAR(…))`) cost time
exponential in their depth, and chained subscripts (`x[1][1]…`) quadratic.
"""

from __future__ import annotations

from sqlglot import Token, TokenType, exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel, ParseError, SqlglotError

from guardrails._context import Context
from guardrails._errors import Rejected

MAX_TYPE_NESTING = 4
MAX_SUBSCRIPT_CHAIN = 8

TRINO = Dialect.get_or_raise("trino")
_OPEN = frozenset({TokenType.L_PAREN, TokenType.L_BRACKET, TokenType.L_BRACE})
_CLOSE = frozenset({TokenType.R_PAREN, TokenType.R_BRACKET, TokenType.R_BRACE})
_TYPE_TOKENS = frozenset(TRINO.parser_class.TYPE_TOKENS)
_HINT = "write a single Trino SELECT statement"
# sqlglot forgives a comma before these (`SELECT a, FROM t`, `f(1,)`); Trino does not.
_NOT_AFTER_COMMA = _CLOSE | {
    TokenType.SEMICOLON, TokenType.FROM, TokenType.WHERE, TokenType.GROUP_BY,
    TokenType.ORDER_BY, TokenType.HAVING, TokenType.LIMIT, TokenType.UNION,
    TokenType.INTERSECT, TokenType.EXCEPT, TokenType.WINDOW, TokenType.FETCH, TokenType.OFFSET,
}


def parse(ctx: Context) -> None:
    """Fill `ctx.statements` and `ctx.nodes`, or reject with parse_error/too_long/too_complex."""
    sql, policy = ctx.sql, ctx.policy
    if len(sql) > policy.max_sql_chars:
        raise Rejected(
            "too_long",
            f"the query has {len(sql)} characters; the limit is {policy.max_sql_chars}",
            hint="shorten the query",
        )
    if "\x00" in sql:
        raise Rejected("parse_error", "the query contains a NUL character", hint=_HINT)
    try:
        tokens = TRINO.tokenize(sql)
    except SqlglotError as error:
        raise Rejected("parse_error", _first_line(error), hint=_HINT) from None
    if len(tokens) > policy.max_ast_nodes:
        raise _too_complex(
            f"the query has {len(tokens)} tokens; the limit is {policy.max_ast_nodes}"
        )
    _check_shape(tokens, policy.max_depth)
    try:
        ctx.statements = TRINO.parser(error_level=ErrorLevel.IMMEDIATE).parse(tokens, sql)
    except ParseError as error:
        raise _parse_error(error) from None
    except SqlglotError as error:
        raise Rejected("parse_error", _first_line(error), hint=_HINT) from None
    ctx.nodes = _nodes(ctx, policy.max_ast_nodes, policy.max_depth)


def _check_shape(tokens: list[Token], max_depth: int) -> None:
    opened_after_type: list[bool] = []
    type_depth = subscripts = 0
    previous: TokenType | None = None
    for token in tokens:
        kind = token.token_type
        if kind in _OPEN:
            is_type = previous in _TYPE_TOKENS
            opened_after_type.append(is_type)
            type_depth += is_type
            if len(opened_after_type) > max_depth:
                raise _too_complex(f"brackets are nested more than {max_depth} deep")
            if type_depth > MAX_TYPE_NESTING:
                raise _too_complex(
                    f"type constructors (ARRAY[...], MAP(...), ROW(...)) are nested more than "
                    f"{MAX_TYPE_NESTING} deep"
                )
            if kind is TokenType.L_BRACKET:
                subscripts = subscripts + 1 if previous is TokenType.R_BRACKET else 1
                if subscripts > MAX_SUBSCRIPT_CHAIN:
                    raise _too_complex(f"more than {MAX_SUBSCRIPT_CHAIN} chained subscripts")
        elif kind in _CLOSE and opened_after_type:
            type_depth -= opened_after_type.pop()
        if previous is TokenType.COMMA and kind in _NOT_AFTER_COMMA:
            raise _incomplete(f"a list ends with a comma before {token.text!r}", token)
        previous = kind
    if previous is TokenType.COMMA:
        raise _incomplete("the query ends with a comma", tokens[-1])


def _nodes(ctx: Context, max_nodes: int, max_depth: int) -> list[exp.Expr]:
    """Every node, pre-order, counted and depth-checked without recursion.

    Comments and source positions are dropped from the tree on the way (the output SQL
    carries no comments, and copying position metadata dominated the cost of a check);
    the first position of each column name is kept in `ctx.positions` for error messages.
    """
    nodes: list[exp.Expr] = []
    positions = ctx.positions
    stack = [(statement, 1) for statement in reversed(ctx.statements) if statement is not None]
    pop, push, keep = stack.pop, stack.append, nodes.append
    while stack:
        node, depth = pop()
        keep(node)
        if depth > max_depth:
            raise _too_complex(f"the syntax tree is more than {max_depth} levels deep")
        if node._meta is not None:
            if (
                type(node) is exp.Identifier
                and node.arg_key == "this"
                and type(node.parent) is exp.Column
            ):
                line, col = node.meta_get("line"), node.meta_get("col")
                if line is not None and col is not None:
                    positions.setdefault(node.this.lower(), (line, col))
            node._meta = None
        if node.comments is not None:
            node.comments = None
        if type(node) in _INCOMPLETE:
            _complete(node)
        depth += 1
        for child in node.iter_expressions(reverse=True):
            push((child, depth))
    if len(nodes) > max_nodes:
        raise _too_complex(f"the syntax tree has more than {max_nodes} nodes")
    return nodes


def _complete(node: exp.Expr) -> None:
    """Refuse the statements sqlglot completes by itself but Trino calls syntax errors."""
    args = node.args
    if isinstance(node, exp.Select):
        if not args.get("expressions"):
            raise _incomplete("SELECT names no columns or expressions")
    elif isinstance(node, exp.Group):
        if not any(args.get(key) for key in ("expressions", "grouping_sets", "cube", "rollup")):
            raise _incomplete("GROUP BY names nothing to group by")
    elif isinstance(node, exp.In):
        if not (args.get("expressions") or args.get("query") or args.get("unnest")
                or args.get("field")):
            raise _incomplete("IN () lists no values")
    elif (
        "pivots" in args  # written with JOIN, not a comma
        and not (args.get("on") or args.get("using") or args.get("method"))
        and args.get("kind") != "CROSS"
    ):
        raise _incomplete("JOIN without ON or USING")


_INCOMPLETE = frozenset({exp.Select, exp.Group, exp.In, exp.Join})


def _incomplete(message: str, token: Token | None = None) -> Rejected:
    line, col = (token.line, token.col) if token is not None else (None, None)
    return Rejected(
        "parse_error", f"incomplete statement: {message}", hint=_HINT, line=line, col=col
    )


def _too_complex(message: str) -> Rejected:
    return Rejected("too_complex", message, hint="simplify the query or split it into steps")


def _parse_error(error: ParseError) -> Rejected:
    if not error.errors:
        return Rejected("parse_error", _first_line(error), hint=_HINT)
    first = error.errors[0]
    line, col = first.get("line"), first.get("col")
    description = first.get("description") or "invalid SQL"
    highlight = (first.get("highlight") or "").strip()
    where = f" at line {line}, column {col}" if line and col else ""
    near = f"near {highlight!r}; " if highlight else ""
    return Rejected(
        "parse_error", f"{description}{where}", hint=f"{near}{_HINT}", line=line, col=col
    )


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
