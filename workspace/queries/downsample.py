"""Long time series are thinned in SQL, into equal time buckets, before they reach a browser.

`downsample_sql(sql, spec, max_points=N)` wraps a query whose result draws as a line or area
chart so that the engine returns at most N points per series:

* **Buckets are chosen in SQL from the data's own span.** The raw width is
  ``ceil((max(x) - min(x)) / (N - 2))`` seconds, rounded up to the next "nice" width
  (:data:`NICE_WIDTHS_S`: 1 s … 30 min, 1, 2, 3, 6, 12 h, 1 day; then whole days up to a
  week, then whole weeks) so a bucket reads as "per 5 minutes" or "per day". Buckets are
  aligned to :data:`ORIGIN`, a Monday at midnight, so they start on whole minutes, hours, days
  and (for weeks) Mondays. An aligned grid can cut the span once more than a grid starting at
  ``min(x)``, hence ``N - 2`` in the raw width: each series gets at most N buckets. One width
  serves all series (the span is the whole result's), so series stay comparable.
* **Each measure is averaged** over the rows in its bucket (``avg``), so values keep their
  unit: a series of events per minute stays events per minute, a ratio stays a ratio. A sum would
  change the unit with the bucket width, and a max or min would draw a different line.
* **x may be a timestamp, a date or ISO text** (``2026-10-05``, ``2026-10-05 10:00``, or with a
  ``T``). It is cast to ``timestamp``; rows whose x is null or not a time are left out. The
  returned x is a ``timestamp`` (its bucket's start) on every engine.
* **The output has the spec's own column names** (x, y…, series), so the same `ChartSpec` draws
  it; ``series`` stays a group key. Rows come ordered by bucket, then series.

The query given is parsed (Trino dialect) and embedded as a tree; column names from the spec
become quoted identifiers. The result is Trino SQL to run through the guardrails like any other.
"""

from __future__ import annotations

from functools import lru_cache

import pyarrow as pa
import pyarrow.compute as pc
import sqlglot
from sqlglot import exp

from charts import TIME_SERIES_KINDS, ChartError, ChartSpec
from charts.figure import is_time

MIN_POINTS = 3
#: Bucket widths in seconds, smallest first; past the last, whole days, then whole weeks.
NICE_WIDTHS_S = (
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800,
    3600, 7200, 10_800, 21_600, 43_200, 86_400,
)
DAY_S = 86_400
WEEK_S = 604_800
#: Buckets are whole multiples of their width from here: Monday 1970-01-05, 00:00.
ORIGIN = "1970-01-05 00:00:00"
TRINO = "trino"

_SOURCE, _POINTS, _SPANS, _WIDTHS, _BUCKETS = (
    "downsample_source", "downsample_points", "downsample_spans", "downsample_widths",
    "downsample_buckets")
_SPANS_SQL = (
    "SELECT *, CAST(date_diff('second', :origin, t) AS DOUBLE) AS at_s, "
    "greatest(1.0, ceil(CAST(date_diff('second', min(t) OVER (), max(t) OVER ()) AS DOUBLE) "
    "/ :budget)) AS raw_s FROM downsample_points WHERE t IS NOT NULL")
_WIDTHS_SQL = "SELECT *, :width AS width_s FROM downsample_spans"
_BUCKETS_SQL = "SELECT *, floor(at_s / width_s) * width_s AS k FROM downsample_widths"
_BUCKET_START_SQL = "date_add('second', CAST(k AS BIGINT), :origin)"
_AS_TIME_SQL = ("coalesce(try_cast(:x AS TIMESTAMP), "
                "try_cast(replace(CAST(:x AS VARCHAR), 'T', ' ') AS TIMESTAMP))")


def downsample_sql(sql: str, spec: ChartSpec, *, max_points: int) -> str | None:
    """Trino SQL returning `sql`'s series in at most `max_points` time buckets per series.

    None when `spec` is not a line or area chart with an x and a y (nothing to thin), names a
    column twice, or `sql` is not one query (running it as it is lets the guardrails say why).
    """
    if max_points < MIN_POINTS:
        raise ChartError(f"cannot draw a time series in {max_points} points",
                         hint=f"allow at least {MIN_POINTS} points per series",
                         max_points=max_points)
    names = spec.columns()
    if (spec.kind not in TIME_SERIES_KINDS or not spec.x or not spec.y
            or len(set(names)) != len(names)):
        return None
    inner = _parse(sql)
    if inner is None:
        return None
    return _wrap(inner, spec, max_points).sql(dialect=TRINO, pretty=True)


def needs_downsampling(spec: ChartSpec, table: pa.Table, max_points: int) -> bool:
    """Whether `table`, drawn with `spec`, has a time series longer than `max_points`.

    True for a line or area spec whose x is a time column in `table` when some series (or the
    whole table, without `series`) has more than `max_points` rows. A result the engine cut at
    its row cap is incomplete as well; the caller knows that from the run, not from the table.
    """
    if spec.kind not in TIME_SERIES_KINDS or not spec.x or spec.x not in table.column_names:
        return False
    if table.num_rows <= max_points or not is_time(table, spec.x):
        return False
    if spec.series is None or spec.series not in table.column_names:
        return True
    counts = pc.value_counts(table.column(spec.series)).field("counts")
    return bool(pc.max(counts).as_py() > max_points)


def _parse(sql: str) -> exp.Query | None:
    try:
        tree = sqlglot.parse_one(sql, read=TRINO)
    except sqlglot.errors.SqlglotError:
        return None
    return tree if isinstance(tree, exp.Query) else None


def _wrap(inner: exp.Query, spec: ChartSpec, max_points: int) -> exp.Query:
    assert spec.x is not None
    source = exp.to_identifier("src")
    points = [_template(_AS_TIME_SQL, x=_column(spec.x, source)).as_("t")]
    if spec.series:
        points.append(_column(spec.series, source).as_("s"))
    points += [_column(y, source).as_(f"v{i}") for i, y in enumerate(spec.y)]
    origin = _timestamp(ORIGIN)
    final = exp.select(_template(_BUCKET_START_SQL, origin=origin).as_(_quoted(spec.x)))
    keys: list[exp.Expr] = [exp.column("k")]
    if spec.series:
        final = final.select(exp.column("s").as_(_quoted(spec.series)))
        keys.append(exp.column("s"))
    final = final.select(*(exp.func("avg", exp.column(f"v{i}")).as_(_quoted(y))
                           for i, y in enumerate(spec.y)))
    final = final.from_(_BUCKETS).group_by(*keys).order_by(*(k.copy() for k in keys))
    ctes: list[tuple[str, exp.Expr]] = [
        (_SOURCE, inner),
        (_POINTS, exp.select(*points).from_(exp.to_table(_SOURCE).as_(source))),
        (_SPANS, _template(_SPANS_SQL, origin=origin, budget=exp.Literal.number(max_points - 2))),
        (_WIDTHS, _template(_WIDTHS_SQL, width=_nice_width(exp.column("raw_s")))),
        (_BUCKETS, _template(_BUCKETS_SQL)),
    ]
    for name, body in ctes:
        final = final.with_(name, as_=body, copy=False)
    return final


def _nice_width(raw: exp.Expr) -> exp.Expr:
    """The smallest nice width of at least `raw` seconds; past a day whole days, past a week
    whole weeks."""
    case = exp.Case()
    for width in NICE_WIDTHS_S:
        case = case.when(_at_most(raw, width), _double(width))
    case = case.when(_at_most(raw, WEEK_S), _whole(raw, DAY_S))
    return case.else_(_whole(raw, WEEK_S))


def _at_most(raw: exp.Expr, seconds: int) -> exp.Expr:
    return exp.LTE(this=raw.copy(), expression=exp.Literal.number(seconds))


def _double(seconds: int) -> exp.Expr:
    return exp.cast(exp.Literal.number(seconds), exp.DataType.build("double"))


def _whole(raw: exp.Expr, unit_s: int) -> exp.Expr:
    """``ceil(raw / unit) * unit``, in double."""
    units = exp.func("ceil", exp.Div(this=raw.copy(), expression=_double(unit_s)))
    return exp.Mul(this=units, expression=_double(unit_s))


def _column(name: str, table: exp.Identifier) -> exp.Column:
    return exp.column(exp.to_identifier(name, quoted=True), table=table.copy())


def _quoted(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _timestamp(text: str) -> exp.Expr:
    return exp.cast(exp.Literal.string(text), exp.DataType.build("timestamp"))


@lru_cache(maxsize=16)
def _parsed(template: str) -> exp.Expr:
    if template.lstrip().upper().startswith("SELECT"):
        return sqlglot.parse_one(template, read=TRINO)
    select = sqlglot.parse_one(f"SELECT {template}", read=TRINO)
    assert isinstance(select, exp.Select)
    first: exp.Expr = select.expressions[0]
    return first


def _template(template: str, **values: exp.Expr) -> exp.Expr:
    """Our constant SQL with each ``:name`` replaced by a fresh copy of its node."""

    def replace(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Placeholder) and node.name:
            return values[node.name].copy()
        return node

    tree: exp.Expr = _parsed(template).copy().transform(replace)
    return tree
