"""The functions that grow a value, and a bound on what each builds.

A count, width, step or range must be a literal (or one base plus literal offsets, as in
``sequence(current_date - INTERVAL '30' DAY, current_date)``). A list costs at least
`ELEMENT_BYTES` per element, so a list bounded by n bytes has at most n / 8 elements to map
over. Any function not listed here builds at most the sum of its arguments.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlglot import exp

from guardrails._rules._bound import AGGREGATE, ELEMENT_BYTES, ZERO, Bound, Unbounded, widest

if TYPE_CHECKING:
    from guardrails._rules._sizes import Measure, Scope

NUMBER_TEXT_BYTES = 400  # the longest number printf writes (a double in %f)
TIME_TEXT_FACTOR = 32  # strftime('%c') writes 19 characters for 2
MAX_UTF8_BYTES = 4  # lpad and rpad count characters
BAR_CHAR_BYTES = 32  # a block character and the ANSI color codes around it

Handler = Callable[["Measure", exp.Func, "Scope"], Bound]


def _args(node: exp.Func) -> list[exp.Expr]:
    return list(node.iter_expressions())


def _count_arg(node: exp.Func, arg: exp.Expr | None) -> int:
    value = integer(arg)
    if value is None:
        raise Unbounded("unbounded_function", node, "{f} needs an integer literal for its "
                        "count or width", "give {f} integer literals for its count or width")
    return max(value, 0)


def integer(node: exp.Expr | None) -> int | None:
    """The value of a constant integer expression (literals, +, -, *, unary minus)."""
    if isinstance(node, (exp.Paren, exp.Cast)):
        return integer(node.this)
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return int(node.this)
        except ValueError:
            return None
    if isinstance(node, exp.Neg):
        inner = integer(node.this)
        return None if inner is None else -inner
    if isinstance(node, (exp.Add, exp.Sub, exp.Mul)):
        a, b = integer(node.this), integer(node.expression)
        if a is None or b is None:
            return None
        return a + b if isinstance(node, exp.Add) else a - b if isinstance(node, exp.Sub) else a * b
    return None


def _repeat(m: Measure, node: exp.Func, scope: Scope) -> Bound:
    args = _args(node)
    subject = m.expr(args[0], scope) if args else ZERO
    times = node.args.get("times") or (args[1] if len(args) > 1 else None)
    return subject.scale(_count_arg(node, times))


def _space(m: Measure, node: exp.Func, scope: Scope) -> Bound:
    return Bound.of(_count_arg(node, node.this))


def _pad(m: Measure, node: exp.Func, scope: Scope) -> Bound:
    args = _args(node)
    for arg in args:
        m.expr(arg, scope)
    width = node.args.get("expression") if isinstance(node, exp.Pad) else (
        args[1] if len(args) > 1 else None)
    return Bound.of(MAX_UTF8_BYTES * _count_arg(node, width))


def _bar(m: Measure, node: exp.Func, scope: Scope) -> Bound:
    """Trino's bar(x, width) and DuckDB's bar(x, min, max[, width]): colored block
    characters, width of them (DuckDB: 80 by default, at most 1,000)."""
    args = _args(node)
    for arg in args:
        m.expr(arg, scope)
    width = 80 if len(args) == 3 else _count_arg(node, args[-1] if len(args) > 1 else None)
    return Bound.of(BAR_CHAR_BYTES * width)


def _array(m: Measure, node: exp.Func, scope: Scope) -> Bound:
    items = _args(node)
    total = Bound.of(ELEMENT_BYTES * len(items))
    for item in items:
        total = total + m.expr(item, scope)
    return total


def _split(m: Measure, node: exp.Func, scope: Scope) -> Bound:
    """At most one element per character, plus one, each costing a header."""
    args = _args(node)
    for arg in args[1:]:
        m.expr(arg, scope)
    text = m.expr(args[0], scope) if args else ZERO
    return text.scale(1 + ELEMENT_BYTES) + Bound.of(ELEMENT_BYTES)


def _resize(m: Measure, node: exp.Func, scope: Scope) -> Bound:
    args = _args(node)
    values = widest(m.expr(a, scope) for a in args[:1] + args[2:])
    n = _count_arg(node, args[1] if len(args) > 1 else None)
    bound = (values + Bound.of(ELEMENT_BYTES)).scale(n)
    m.built(node, bound, n)
    return bound


def _bins(m: Measure, node: exp.Func, scope: Scope) -> Bound:
    args = _args(node)
    ends = widest(m.expr(a, scope) for a in args[:2])
    n = _count_arg(node, args[2] if len(args) > 2 else None)
    bound = (ends + Bound.of(ELEMENT_BYTES)).scale(n)
    m.built(node, bound, n)
    return bound


def _bitstring(m: Measure, node: exp.Func, scope: Scope) -> Bound:
    args = _args(node)
    subject = m.expr(args[0], scope) if args else ZERO
    return subject + Bound.of(_count_arg(node, args[1] if len(args) > 1 else None))


def _sequence(m: Measure, node: exp.Func, scope: Scope) -> Bound:
    if isinstance(node, exp.GenerateSeries):
        start, end, step = node.args.get("start"), node.args.get("end"), node.args.get("step")
    else:
        start, end, step = [*_args(node), None, None, None][:3]
    for arg in (start, end, step):
        if arg is not None:
            m.expr(arg, scope)
    if end is None:  # range(n), generate_series(n): from 0
        start, end = exp.Literal.number(0), start
    n = _elements(start, end, step)
    if n is None:
        raise Unbounded("unbounded_function", node, "{f} needs literal bounds (or one base "
                        "plus literal offsets) and a literal step",
                        "give {f} integer or date literals, e.g. sequence(current_date - "
                        "INTERVAL '30' DAY, current_date)")
    bound = Bound.of(n * ELEMENT_BYTES)
    m.built(node, bound, n)
    return bound


_UNIT_S = {"microsecond": 1e-6, "millisecond": 1e-3, "second": 1.0, "minute": 60.0,
           "hour": 3600.0, "day": 86400.0, "week": 7 * 86400.0, "month": 28 * 86400.0,
           "quarter": 89 * 86400.0, "year": 365 * 86400.0}


def _elements(start: exp.Expr | None, end: exp.Expr | None, step: exp.Expr | None) -> int | None:
    a, b = _point(start), _point(end)
    if a is None or b is None or a[:2] != b[:2]:
        return None
    temporal = a[0]
    if step is None:
        size: float | None = 86400.0 if temporal else 1.0
    else:
        size = _seconds(step) if temporal else integer(step)
    if not size:
        return None
    return int(abs(b[2] - a[2]) // abs(size)) + 1


def _point(node: exp.Expr | None) -> tuple[bool, str, float] | None:
    """(temporal, base expression, offset): a literal, or `base ± literal interval`."""
    if node is None:
        return None
    if isinstance(node, exp.Paren):
        return _point(node.this)
    number = integer(node)
    if number is not None:
        return False, "", number
    if isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal) and node.this.is_string:
        try:
            return True, "", datetime.fromisoformat(node.this.this).timestamp()
        except ValueError:
            return None
    if isinstance(node, (exp.Add, exp.Sub)) and isinstance(node.expression, exp.Interval):
        base, offset = _point(node.this), _seconds(node.expression)
        if base is None or offset is None:
            return None
        return True, base[1], base[2] + (offset if isinstance(node, exp.Add) else -offset)
    if isinstance(node, (exp.DateAdd, exp.DateSub)):
        base, amount = _point(node.this), integer(node.expression)
        unit = _UNIT_S.get(node.text("unit").lower().rstrip("s") or "day")
        if base is None or amount is None or unit is None:
            return None
        sign = 1 if isinstance(node, exp.DateAdd) else -1
        return True, base[1], base[2] + sign * amount * unit
    if node.find(exp.Column, exp.Query) is not None:
        return None  # a column or a subquery: each row has a base of its own
    return True, node.sql(), 0.0


def _seconds(node: exp.Expr) -> float | None:
    if not isinstance(node, exp.Interval):
        return None
    text = node.this.name if isinstance(node.this, exp.Literal) else str(integer(node.this))
    unit = node.text("unit")
    if not unit:
        text, _, unit = text.strip().partition(" ")
    try:
        amount = float(text)
    except ValueError:
        return None
    factor = _UNIT_S.get(unit.strip().lower().rstrip("s"))
    return None if factor is None else amount * factor


_PRINTF_SPEC = re.compile(r"%[^a-zA-Z%]*[a-zA-Z%]")
_BRACE_SPEC = re.compile(r"\{[^{}]*\}")


def _format(m: Measure, node: exp.Func, scope: Scope) -> Bound:
    args = _args(node)
    if not args or not (isinstance(args[0], exp.Literal) and args[0].is_string):
        raise Unbounded("unbounded_function", node, "{f} needs a string literal as its format",
                        "write the format as a literal; widths must be literal numbers")
    text = args[0].this
    specs = _PRINTF_SPEC.findall(text) + _BRACE_SPEC.findall(text)
    if any("*" in s for s in specs) or "{" in _BRACE_SPEC.sub("", text.replace("{{", "")):
        raise Unbounded("unbounded_function", node, "{f} takes a width or precision from an "
                        "argument", "write widths and precisions as literal numbers")
    widths = sum(int(n) for s in specs for n in re.findall(r"\d+", s))
    values = ZERO
    for arg in args[1:]:
        values = values + m.expr(arg, scope) + Bound.of(NUMBER_TEXT_BYTES)
    return Bound.of(len(text.encode()) + widths) + values


def _scaled(factor: float) -> Handler:
    """Text that grows by at most `factor` per byte (hex, escapes, formats)."""

    def handler(m: Measure, node: exp.Func, scope: Scope) -> Bound:
        total = ZERO
        for arg in _args(node):
            total = total + m.expr(arg, scope)
        return total.scale(factor)

    return handler


def _time_format(m: Measure, node: exp.Func, scope: Scope) -> Bound:
    """A formatted time: each character of the literal format writes at most 32."""
    args = _args(node)
    formats = [a for a in args if isinstance(a, exp.Literal) and a.is_string]
    if not formats:
        raise Unbounded("unbounded_function", node, "{f} needs a string literal as its format",
                        "write the format as a literal")
    for arg in args:
        m.expr(arg, scope)
    return Bound.of(TIME_TEXT_FACTOR * sum(len(a.this.encode()) for a in formats))


def product(a: Bound, b: Bound, node: exp.Expr) -> Bound:
    """a * b, when at most one of them depends on the data."""
    if not a.constant and not b.constant:
        raise Unbounded("unbounded_function", node, "{f} would copy a value of data size once "
                        "per element or match of another", "use literals for the separator, "
                        "replacement or the lambda's other values")
    if a.constant:
        a, b = b, a
    return a.scale(b.const)


def _count(items: Bound) -> Bound:
    """A bound on the number of elements of a list of `items` bytes."""
    return items.scale(1 / ELEMENT_BYTES) + Bound.of(1)


def _replace(m: Measure, node: exp.Func, scope: Scope) -> Bound:
    args = _args(node)
    subject = m.expr(args[0], scope) if args else ZERO
    replacement = node.args.get("replacement") or (args[2] if len(args) > 2 else None)
    for arg in args[1:]:
        if arg is not replacement:
            m.expr(arg, scope)
    if replacement is None:
        return subject
    by = m.expr(replacement, scope)
    refs = 0
    if isinstance(node, exp.RegexpReplace) or node.name.lower().startswith("regexp"):
        if isinstance(replacement, exp.Literal):
            refs = len(re.findall(r"\\\d|\$\d", replacement.this))
        else:  # a built replacement: at most one reference per two characters
            refs = int(by.const // 2) if by.constant else 1
    # Every match (at most one per character, plus one) is replaced; a group reference
    # copies matched text, and matches do not overlap.
    return subject.scale(1 + refs) + product(subject + Bound.of(1), by, node)


def _join(m: Measure, node: exp.Func, scope: Scope) -> Bound:
    args = _args(node)
    items = m.expr(args[0], scope) if args else ZERO
    glue = ZERO
    for arg in args[1:]:
        glue = glue + m.expr(arg, scope)
    return items + product(_count(items), glue, node)


def _concat_ws(m: Measure, node: exp.Func, scope: Scope) -> Bound:
    args = _args(node)
    if not args:
        return ZERO
    glue = m.expr(args[0], scope)
    parts = ZERO
    for arg in args[1:]:
        parts = parts + m.expr(arg, scope)
    # An argument may be a list, whose elements are joined too.
    return parts + product(_count(parts) + Bound.of(len(args)), glue, node)


def _select(m: Measure, node: exp.Func, scope: Scope) -> Bound:
    """list_select(list, indexes): one element of `list` per index."""
    args = _args(node)
    items = m.expr(args[0], scope) if args else ZERO
    picks = m.expr(args[1], scope) if len(args) > 1 else ZERO
    return product(_count(picks), items, node)


def _combinations(m: Measure, node: exp.Func, scope: Scope) -> Bound:
    args = _args(node)
    items = m.expr(args[0], scope) if args else ZERO
    out = items
    for _ in range(1, _count_arg(node, args[1] if len(args) > 1 else None)):
        out = product(out, _count(items), node)
    return out


def _pretty(m: Measure, node: exp.Func, scope: Scope) -> Bound:
    """Indentation grows with depth on every line: quadratic in the text."""
    text = _scaled(1)(m, node, scope)
    return text + product(text, text, node)


def _filter(m: Measure, node: exp.Func, scope: Scope) -> Bound:
    lists = ZERO
    for arg in _args(node):
        if isinstance(arg, exp.Lambda):
            m.lambda_body(arg, scope)
        else:
            lists = lists + m.expr(arg, scope)
    return lists


def transform(m: Measure, node: exp.Func, scope: Scope) -> Bound:
    """f(x) = a*x + rest on each element: at most max(a, 1)*|list| + n*rest."""
    lists = ZERO
    bodies: list[tuple[list[str], Bound]] = []
    for arg in _args(node):
        if isinstance(arg, exp.Lambda):
            bodies.append(m.lambda_body(arg, scope))
        else:
            lists = lists + m.expr(arg, scope)
    out = ZERO
    for symbols, body in bodies:
        picked, rest = body.split(symbols)
        out = out + lists.scale(max(sum(picked.values()), 1.0)) + product(
            _count(lists), rest, node)
    return out if bodies else lists


def _accumulates(m: Measure, node: exp.Func, fn: exp.Lambda, scope: Scope,
                 states: int = 1) -> tuple[dict[str, float], Bound]:
    """The body's coefficients and rest; the first `states` parameters carry the state,
    which may not be copied twice: that doubles it at every step."""
    symbols, body = m.lambda_body(fn, scope)
    picked, rest = body.split(symbols)
    if any(picked.get(s, 0.0) > 1 for s in symbols[:states]):
        raise Unbounded("unbounded_function", node, "{f}'s lambda uses a parameter more than "
                        "once, so the value can double at every step",
                        "use the accumulator at most once in the lambda")
    return picked, rest


def _reduce(m: Measure, node: exp.Func, scope: Scope) -> Bound:
    args = _args(node)
    lists = m.expr(args[0], scope) if args else ZERO
    start = lists
    for arg in args[1:]:
        if not isinstance(arg, exp.Lambda):
            start = m.expr(arg, scope)
    fns = [a for a in args[1:] if isinstance(a, exp.Lambda)]
    if not fns:
        return start
    picked, rest = _accumulates(m, node, fns[0], scope)
    first = next(iter(fns[0].expressions), None)
    accumulator = f"{first.name.lower()}#" if first is not None else ""
    element = sum(k for s, k in picked.items() if not s.startswith(accumulator))
    out = start + lists.scale(element) + product(_count(lists), rest, node)
    for fn in fns[1:]:  # Trino's output function, applied once
        fpicked, frest = _accumulates(m, node, fn, scope)
        out = out.scale(max(sum(fpicked.values()), 1.0)) + frest
    return out


def _reduce_agg(m: Measure, node: exp.Func, scope: Scope) -> Bound:
    """Trino's reduce_agg over rows: its state is a collection the engine holds."""
    fns = [a for a in _args(node) if isinstance(a, exp.Lambda)]
    for arg in _args(node):
        if isinstance(arg, exp.Lambda):
            _accumulates(m, node, arg, scope, states=1 if arg is fns[0] else 2)
        else:
            m.expr(arg, scope)
    return Bound.of(**{AGGREGATE: 1.0})


BY_CLASS: dict[type[exp.Expr], Handler] = {
    exp.Repeat: _repeat, exp.Space: _space, exp.Pad: _pad, exp.GenerateSeries: _sequence,
    exp.Format: _format, exp.Replace: _replace, exp.RegexpReplace: _replace,
    exp.ArrayToString: _join, exp.ConcatWs: _concat_ws, exp.Translate: _scaled(MAX_UTF8_BYTES),
    exp.Transform: transform, exp.ArrayFilter: _filter, exp.Reduce: _reduce,
    exp.Array: _array, exp.Split: _split, exp.StringToArray: _split,
    exp.RegexpExtractAll: _split, exp.TimeToStr: _time_format,
    exp.Hex: _scaled(2), exp.ToBinary: _scaled(8), exp.ToBase64: _scaled(2),
    exp.JSONObject: _scaled(6), exp.JSONFormat: _scaled(6), exp.Normalize: _scaled(11),
}
BY_NAME: dict[str, Handler] = {
    "repeat": _repeat, "array_repeat": _repeat, "ngrams": _repeat, "space": _space,
    "lpad": _pad, "rpad": _pad, "bar": _bar, "range": _sequence, "generate_series": _sequence,
    "sequence": _sequence, "list_resize": _resize, "array_resize": _resize,
    "equi_width_bins": _bins, "bitstring": _bitstring, "format": _format, "printf": _format,
    "replace": _replace, "regexp_replace": _replace, "array_join": _join,
    "list_aggr": _join, "list_aggregate": _join, "array_aggr": _join, "concat_ws": _concat_ws,
    "string_split": _split, "str_split": _split, "string_split_regex": _split,
    "str_split_regex": _split, "regexp_split_to_array": _split, "list_select": _select,
    "array_select": _select, "combinations": _combinations, "json_pretty": _pretty,
    "filter": _filter, "list_filter": _filter, "array_filter": _filter, "map_filter": _filter,
    "reduce": _reduce, "list_reduce": _reduce, "array_reduce": _reduce,
    "reduce_agg": _reduce_agg,
    # Per input byte: bin writes 8 digits; JSON
    # escapes a control character in 6; NFKD normalisation expands a character up to 11x.
    "strftime": _time_format, "format_datetime": _time_format,
    "bin": _scaled(8), "base64": _scaled(2), "url_encode": _scaled(3),
    "to_json": _scaled(6), "json_quote": _scaled(6), "json_array": _scaled(6),
    "json_object": _scaled(6), "array_to_json": _scaled(6), "row_to_json": _scaled(6),
    "regexp_escape": _scaled(2), "nfc_normalize": _scaled(3), "translate": _scaled(4),
}
