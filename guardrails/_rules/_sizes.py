"""How large one value of a query can grow: an upper bound per expression, in bytes.

Analysis only; the caps are the `bounded` rule's. Why: DuckDB counts sorts, hash tables and
aggregates against its memory limit, but not the values a row's expressions build; it
evaluates 2,048 rows at a time and sees an interrupt only between those chunks. One
``repeat('x', 2000000000)`` ran 30 s past a 4 s timeout and reached 2.1 GB over a 512 MB
limit. So every value is bounded before the query runs.

The walk resolves columns in their scope (CTEs, subqueries, UNNEST, VALUES, lambda
parameters); a catalog table's column is the unknown `v`. Functions that grow a value are
`_growers`; any other function's value is at most the sum of its arguments'. A recursive
CTE is iterated until its bounds stop growing, or `Unbounded` is raised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlglot import exp

from guardrails._rules._bound import (
    AGGREGATE,
    COLUMN,
    DATA,
    FLAG,
    NUMBER,
    NUMBER_BYTES,
    ZERO,
    Bound,
    Built,
    Unbounded,
    widest,
)
from guardrails._rules._growers import BY_CLASS, BY_NAME, MAX_UTF8_BYTES, integer, transform

RECURSION_EXTRA_ROUNDS = 3  # beyond one round per column, as one bound may wait on another


@dataclass(frozen=True)
class _Outputs:
    """A relation's columns and their bounds; `rest`: the bound of any column not listed
    (a catalog table's, or one whose name the analysis does not know), None if none."""

    columns: tuple[tuple[str, Bound], ...] = ()
    rest: Bound | None = None

    def get(self, name: str) -> Bound | None:
        found = [b for n, b in self.columns if n == name]
        return widest(found) if found else self.rest

    def widest(self) -> Bound:
        return widest([b for _, b in self.columns] + ([self.rest] if self.rest else []))

    def renamed(self, names: list[str]) -> _Outputs:
        if not names:
            return self
        if self.rest is not None or len(names) != len(self.columns):
            wide = self.widest()
            return _Outputs(tuple((n, wide) for n in names))
        return _Outputs(tuple((n, b) for n, (_, b) in zip(names, self.columns, strict=True)))

    def covers(self, other: _Outputs) -> bool:
        return len(self.columns) == len(other.columns) and all(
            a.covers(b) for (_, a), (_, b) in zip(self.columns, other.columns, strict=True))


CATALOG_TABLE = _Outputs(rest=DATA)


@dataclass
class Scope:
    parent: Scope | None = None
    sources: dict[str, _Outputs] = field(default_factory=dict)
    ctes: dict[str, _Outputs] = field(default_factory=dict)
    params: dict[str, Bound] = field(default_factory=dict)

    def cte(self, name: str) -> _Outputs | None:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.ctes:
                return scope.ctes[name]
            scope = scope.parent
        return None


def measure(tree: exp.Expr, observe: Callable[[Built], None]) -> None:
    """Bound every value `tree` builds, calling `observe` for each function's result.

    Raises `Unbounded` where no bound exists."""
    Measure(observe).query(tree, Scope())


class Measure:
    def __init__(self, observe: Callable[[Built], None]) -> None:
        self._observe = observe
        self._quiet = 0  # > 0 while a recursive CTE is iterated to its fixpoint
        self._lambdas = 0

    def built(self, node: exp.Expr, bound: Bound, elements: int | None = None) -> None:
        if not self._quiet:
            _, rest = bound.split(n for n, _ in bound.terms if n not in (COLUMN, AGGREGATE))
            self._observe(Built(node, rest, elements))

    # -- relations -----------------------------------------------------------------------
    def query(self, node: exp.Expr, scope: Scope) -> _Outputs:
        if isinstance(node, exp.Subquery):
            return self.query(node.this, scope)
        if isinstance(node, exp.SetOperation):
            inner = self._with(node, scope)
            left, right = self.query(node.this, inner), self.query(node.expression, inner)
            out = _union(left, right)
            self._rest_of(node, Scope(parent=inner, sources={"": out}),
                          {"this", "expression", "with_", "with"})
            return out
        if isinstance(node, exp.Select):
            return self._select(node, self._with(node, scope))
        if isinstance(node, exp.Values):
            return self._values(node, scope)
        return _Outputs(rest=self.expr(node, scope).join(DATA))  # not a query

    def _with(self, node: exp.Expr, scope: Scope) -> Scope:
        with_ = node.args.get("with_") or node.args.get("with")
        if not isinstance(with_, exp.With):
            return scope
        inner = Scope(parent=scope)
        for cte in with_.expressions:
            name = cte.alias_or_name.lower()
            names = _alias_columns(cte.args.get("alias"))
            if with_.args.get("recursive") and _refers_to(cte.this, name):
                inner.ctes[name] = self._recursive(cte, name, names, inner)
            else:
                inner.ctes[name] = self.query(cte.this, inner).renamed(names)
        return inner

    def _recursive(self, cte: exp.CTE, name: str, names: list[str], scope: Scope) -> _Outputs:
        """Iterate the CTE's bounds from empty; they must stop growing."""
        self._quiet += 1
        try:
            if not names:  # the anchor (the first branch) names the columns
                anchor = cte.this
                while isinstance(anchor, exp.SetOperation):
                    anchor = anchor.this
                scope.ctes[name] = _Outputs()
                names = [n for n, _ in self.query(anchor, scope).columns]
            current = _Outputs(tuple((n, ZERO) for n in names))
            for _ in range(len(names) + RECURSION_EXTRA_ROUNDS):
                scope.ctes[name] = current
                nxt = _union(current, self.query(cte.this, scope).renamed(names))
                if current.covers(nxt):
                    break
                current = nxt
            else:
                raise Unbounded("unbounded_recursion", name,
                                "the recursive query {f} builds larger values each round",
                                "recurse on numbers or fixed-size values; build strings and "
                                "lists outside the recursion")
        finally:
            self._quiet -= 1
        scope.ctes[name] = current
        self.query(cte.this, scope)  # once more, observed
        return current

    def _select(self, node: exp.Select, scope: Scope) -> _Outputs:
        inner = Scope(parent=scope)
        sources = [node.args.get("from_") or node.args.get("from")]
        sources += [j for j in node.args.get("joins") or []]
        for holder in sources:
            if holder is None:
                continue
            source = holder.this
            alias, outputs = self._source(source, inner)
            # An unaliased source has no name to be read by, but its columns still count:
            # two of them must not share (and overwrite) one key.
            inner.sources[alias or f"\0{len(inner.sources)}"] = outputs
            for key in ("on", "using", "match_condition"):
                value = holder.args.get(key)
                for part in value if isinstance(value, list) else [value]:
                    if isinstance(part, exp.Expr):
                        self.expr(part, inner)
        columns: list[tuple[str, Bound]] = []
        rest: Bound | None = None
        for i, projection in enumerate(node.expressions):
            if isinstance(projection, exp.Star) or (
                    isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)):
                table = projection.table.lower() if isinstance(projection, exp.Column) else ""
                for alias, outputs in inner.sources.items():
                    if not table or table == alias:
                        columns.extend(outputs.columns)
                        if outputs.rest is not None:
                            rest = outputs.rest if rest is None else rest.join(outputs.rest)
                continue
            name = projection.alias_or_name.lower() or f"_col{i}"
            columns.append((name, self.expr(projection, inner)))
        self._rest_of(node, inner, {"expressions", "from_", "from", "joins", "with_", "with"})
        return _Outputs(tuple(columns), rest)

    def _rest_of(self, node: exp.Expr, scope: Scope, skip: set[str]) -> None:
        """Bound the clauses not yet seen (WHERE, GROUP BY, ORDER BY, windows, ...)."""
        for key, value in node.args.items():
            if key in skip:
                continue
            for part in value if isinstance(value, list) else [value]:
                if isinstance(part, exp.Expr):
                    self.expr(part, scope)

    def _source(self, source: exp.Expr, scope: Scope) -> tuple[str, _Outputs]:
        alias = source.alias_or_name.lower()
        names = _alias_columns(source.args.get("alias"))
        if isinstance(source, exp.Table) and isinstance(source.this, exp.Identifier):
            known = scope.cte(source.name.lower())
            return alias, (known if known is not None else CATALOG_TABLE).renamed(names)
        if isinstance(source, (exp.Subquery, exp.Values)):
            return alias, self.query(source, scope).renamed(names)
        if isinstance(source, exp.Lateral):
            return alias, self.query(source.this, scope).renamed(names)
        if isinstance(source, exp.Unnest):
            elements = [self.expr(e, scope) for e in source.expressions]
            if source.args.get("offset"):
                elements.append(NUMBER)
            if not names:
                return alias, _Outputs(rest=widest(elements))
            return alias, _Outputs(tuple(zip(names, elements, strict=False)),
                                   rest=widest(elements)).renamed(names)
        return alias, _Outputs(rest=self.expr(source, scope).join(DATA)).renamed(names)

    def _values(self, node: exp.Values, scope: Scope) -> _Outputs:
        rows = [[self.expr(e, scope) for e in (r.expressions if isinstance(r, exp.Tuple)
                                                else [r])] for r in node.expressions]
        width = max((len(r) for r in rows), default=0)
        cols = tuple((f"_col{i}", widest(r[i] for r in rows if i < len(r)))
                     for i in range(width))
        return _Outputs(cols).renamed(_alias_columns(node.args.get("alias")))

    # -- expressions ---------------------------------------------------------------------
    def expr(self, node: exp.Expr, scope: Scope) -> Bound:
        if isinstance(node, (exp.Query, exp.Subquery)):
            return self.query(node, scope).widest()
        if isinstance(node, exp.Literal):
            return Bound.of(len(node.this.encode()) if node.is_string else NUMBER_BYTES)
        if isinstance(node, exp.DataType):
            return ZERO
        if isinstance(node, exp.Column) and not isinstance(node.this, exp.Star):
            return _column(node, scope)
        if isinstance(node, exp.Identifier):  # a lambda parameter, or a key as in ROW(a := 1)
            return _param(node.name.lower(), scope) or Bound.of(len(node.name.encode()))
        if isinstance(node, (exp.Cast, exp.TryCast)):
            return self._cast(node, scope)
        if isinstance(node, exp.Func):
            return self._func(node, scope)
        if isinstance(node, exp.DPipe):
            bound = self._children(node, scope)
            self.built(node, bound)
            return bound
        if isinstance(node, _ARITHMETIC):
            self._children(node, scope)
            return NUMBER
        if isinstance(node, (exp.Predicate, exp.Connector, exp.Not)):
            self._children(node, scope)
            return FLAG
        if isinstance(node, exp.Window):
            for child in node.iter_expressions():
                if child is not node.this:
                    self.expr(child, scope)
            return self.expr(node.this, scope)
        return self._children(node, scope)

    def _children(self, node: exp.Expr, scope: Scope) -> Bound:
        total = ZERO
        for child in node.iter_expressions():
            total = total + self.expr(child, scope)
        return total

    def _func(self, node: exp.Func, scope: Scope) -> Bound:
        name = node.name.lower() if isinstance(node, exp.Anonymous) else ""
        handler = BY_CLASS.get(type(node)) or BY_NAME.get(name)
        if handler is not None:
            bound = handler(self, node, scope)
        elif any(isinstance(a, exp.Lambda) for a in node.iter_expressions()):
            bound = transform(self, node, scope)
        elif (isinstance(node, _COLLECTING) or name in _COLLECTING_NAMES
              or _TOP_N.get(name or node.key, 99) <= _arity(node)):
            self._children(node, scope)
            bound = Bound.of(**{AGGREGATE: 1.0})
        elif isinstance(node, _CHOICES):
            bound = widest(self.expr(c, scope) for c in node.iter_expressions())
        elif isinstance(node, _FIXED_SIZE) or name in _FIXED_SIZE_NAMES:
            self._children(node, scope)  # a number, flag or time, whatever its arguments
            bound = NUMBER
        else:
            bound = self._children(node, scope)
        self.built(node, bound)
        return bound

    def _cast(self, node: exp.Cast, scope: Scope) -> Bound:
        """To text, a blob escapes each byte in up to 4 characters, a list quotes and
        separates its elements; text cast to text stays as it is."""
        inner = self.expr(node.this, scope)
        if node.to.is_type(exp.DataType.Type.CHAR, exp.DataType.Type.NCHAR):
            width = node.to.find(exp.DataTypeParam)  # Trino pads CHAR(n) to n characters
            n = integer(width.this) if width is not None else 1
            inner = inner.join(Bound.of(MAX_UTF8_BYTES * (n if n is not None else 1)))
        if node.to.is_type(*exp.DataType.TEXT_TYPES) and not (
                isinstance(node.this, (exp.Column, exp.Literal, exp.DPipe, exp.Concat))
                or (isinstance(node.this, exp.Cast)
                    and node.this.to.is_type(*exp.DataType.TEXT_TYPES))):
            inner = inner.scale(4) + NUMBER
        self.built(node, inner)
        return inner

    def lambda_body(self, fn: exp.Lambda, scope: Scope) -> tuple[list[str], Bound]:
        """The body's bound with each parameter as an unknown of its own."""
        self._lambdas += 1
        symbols = [f"{p.name.lower()}#{self._lambdas}" for p in fn.expressions]
        inner = Scope(parent=scope, params={
            p.name.lower(): Bound.of(**{s: 1.0}) for p, s in zip(fn.expressions, symbols,
                                                                 strict=True)})
        return symbols, self.expr(fn.this, inner)


_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod, exp.Pow,
               exp.BitwiseAnd, exp.BitwiseOr, exp.BitwiseXor, exp.BitwiseLeftShift,
               exp.BitwiseRightShift, exp.Neg)
_COLLECTING: tuple[type[exp.Expr], ...] = tuple(
    getattr(exp, n) for n in ("ArrayAgg", "GroupConcat", "ArrayUniqueAgg", "ArrayConcatAgg",
                              "JSONArrayAgg", "JSONObjectAgg", "ObjectAgg") if hasattr(exp, n))
# Aggregates that return a list of the top n values when given n (max(x, n), max_by(x, y, n)).
_TOP_N = {"max": 2, "min": 2, "argmax": 3, "argmin": 3, "approxtopk": 2,
          "approx_most_frequent": 3}
_CHOICES = (exp.Case, exp.If, exp.Coalesce, exp.Nullif, exp.Greatest, exp.Least)
# Functions whose result is a number, a flag, a date or a timestamp.
_FIXED_SIZE: tuple[type[exp.Expr], ...] = tuple(
    getattr(exp, n) for n in """DateDiff DatetimeDiff TimestampDiff TimeDiff TsOrDsDiff Extract
    Length ArraySize Count CountIf Sum Avg Stddev StddevPop StddevSamp Variance VariancePop
    ApproxDistinct StrPosition DateTrunc TimestampTrunc DatetimeTrunc TimeTrunc DateAdd DateSub
    TimestampAdd TimestampSub DatetimeAdd DatetimeSub TsOrDsAdd Round Floor Ceil Abs Ln Log Exp
    Sqrt Sign Corr CovarPop CovarSamp TimeToUnix UnixToTime StrToTime StrToDate TsOrDsToDate
    Year Month Day DayOfWeek DayOfMonth DayOfYear WeekOfYear Quarter Hour Minute Second
    CurrentDate CurrentTimestamp""".split() if hasattr(exp, n))  # noqa: SIM905
_FIXED_SIZE_NAMES = frozenset(
    """date_diff to_unixtime from_unixtime cardinality length strpos hour minute second
    day_of_week dow day_of_year doy week year_of_week yow millisecond""".split())  # noqa: SIM905
_COLLECTING_NAMES = frozenset(
    """array_agg list string_agg listagg group_concat histogram map_agg multimap_agg
    json_group_array json_group_object json_arrayagg json_objectagg array_union_agg set_agg
    bitstring_agg list_agg array_concat_agg""".split())  # noqa: SIM905


def _arity(node: exp.Func) -> int:
    return sum(1 for _ in node.iter_expressions())


def _column(node: exp.Column, scope: Scope) -> Bound:
    name, table = node.name.lower(), node.table.lower()
    current: Scope | None = scope
    while current is not None:
        if not table and name in current.params:
            return current.params[name]
        if table and table in current.sources:
            return current.sources[table].get(name) or DATA
        if not table:
            found = [b for o in current.sources.values() if (b := o.get(name)) is not None]
            if found:
                return widest(found)
        current = current.parent
    return DATA


def _param(name: str, scope: Scope) -> Bound | None:
    current: Scope | None = scope
    while current is not None:
        if name in current.params:
            return current.params[name]
        current = current.parent
    return None


def _union(left: _Outputs, right: _Outputs) -> _Outputs:
    if left.rest is not None or right.rest is not None or len(left.columns) != len(
            right.columns):
        wide = left.widest().join(right.widest())
        return _Outputs(tuple((n, wide) for n, _ in left.columns), rest=wide)
    return _Outputs(tuple((n, a.join(b)) for (n, a), (_, b) in zip(left.columns, right.columns,
                                                                   strict=True)))


def _alias_columns(alias: exp.Expr | None) -> list[str]:
    if not isinstance(alias, exp.TableAlias):
        return []
    return [c.name.lower() for c in alias.columns]


def _refers_to(node: exp.Expr, name: str) -> bool:
    return any(t.name.lower() == name for t in node.find_all(exp.Table))

