"""A monitor's series from the warehouse: the SQL (Trino, the canonical dialect) and its run.

:func:`series_sql` compiles a spec into one aggregate over ``events`` with ``?`` placeholders
for every value (app, times, event type, property value); only the JSON path of a validated
key path is part of the text, in Trino's bracket form, which sqlglot rewrites for DuckDB.
The :class:`~warehouse.engines.Engine` protocol takes SQL text only, so :func:`read_series`
binds the values itself, each rendered as a literal by sqlglot (quoted and escaped), never
pasted by hand. The ``dt`` partition bounds let both engines prune to the days asked for.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlglot import exp

from pipeline.monitors._baseline import floor_bucket, utc_bucket
from pipeline.monitors._policy import MonitorError, Resolution
from pipeline.monitors._spec import MonitorSpec, check_key_path
from warehouse.engines import Engine, EngineError

QUERY_TIMEOUT_S = 120.0
Param = str | int | float | datetime
SeriesRows = list[tuple[datetime, float]]

# Constant templates chosen from the spec's closed enums; values never enter the text.
_TRUNC = {Resolution.HOUR: "date_trunc('hour', event_time)",
          Resolution.DAY: "date_trunc('day', event_time)"}
_AGGREGATE = {"events": "count(*)", "users": "count(DISTINCT user_id)"}


def json_path(key_path: str) -> str:
    """``cart.total`` → ``$["cart"]["total"]`` (Trino's form for any key; checked first)."""
    check_key_path(key_path)
    return "$" + "".join(f'["{segment}"]' for segment in key_path.split("."))


def series_sql(spec: MonitorSpec, start: datetime, end: datetime) -> tuple[str, list[Param]]:
    """SQL for ``(bucket, value)`` rows of ``spec``'s metric over ``[start, end)``, by bucket.

    Buckets without events have no row; :func:`read_series` fills them with 0.
    """
    start, end = _window(spec, start, end)
    if spec.metric == "sum":
        assert spec.property is not None  # the spec's own check
        path = json_path(spec.property)
        value = f"sum(TRY_CAST(json_extract_scalar(properties, '{path}') AS DOUBLE))"
    else:
        value = _AGGREGATE[spec.metric]
    where = ["app_id = ?", "dt >= ?", "dt <= ?",
             "event_time >= CAST(? AS TIMESTAMP)", "event_time < CAST(? AS TIMESTAMP)"]
    params: list[Param] = [spec.app_id, f"{start:%Y-%m-%d}", f"{end - _TICK:%Y-%m-%d}",
                           start, end]
    if spec.event_type is not None:
        where.append("event_type = ?")
        params.append(spec.event_type)
    if spec.breakdown is not None:
        where.append(f"json_extract_scalar(properties, '{json_path(spec.breakdown.key)}') = ?")
        params.append(spec.breakdown.value)
    sql = (f"SELECT {_TRUNC[spec.resolution]} AS bucket, {value} AS value FROM events "
           f"WHERE {' AND '.join(where)} GROUP BY 1 ORDER BY 1")
    return sql, params


def bind(sql: str, params: list[Param]) -> str:
    """``sql`` with each ``?`` replaced by its value as a sqlglot-rendered Trino literal.

    Only for SQL from :func:`series_sql`, whose text has no ``?`` but its placeholders.
    """
    parts = sql.split("?")
    if len(parts) != len(params) + 1:
        raise MonitorError("placeholders and values differ in number",
                           placeholders=len(parts) - 1, values=len(params))
    out = [parts[0]]
    for value, part in zip(params, parts[1:], strict=True):
        out.append(_literal(value).sql(dialect="trino"))
        out.append(part)
    return "".join(out)


def read_series(engine: Engine, spec: MonitorSpec, start: datetime, end: datetime) -> SeriesRows:
    """Every bucket of ``[start, end)`` with its value (0 where the warehouse has no row)."""
    start, end = _window(spec, start, end)
    sql, params = series_sql(spec, start, end)
    width = spec.resolution.step
    buckets = int((end - start) / width)
    try:
        result = engine.run(bind(sql, params), buckets + 1, QUERY_TIMEOUT_S)
    except EngineError as exc:
        raise MonitorError(f"the monitor's series could not be read: {exc.message}",
                           code="series_unavailable", hint=exc.hint or "try again later",
                           app_id=spec.app_id) from None
    values = [0.0] * buckets
    for row in result.table.to_pylist():
        at = row["bucket"]
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
        i = int((at - start) / width)
        if 0 <= i < buckets and row["value"] is not None:
            values[i] = max(0.0, float(row["value"]))  # a monitor watches non-negative amounts
    return [(start + i * width, v) for i, v in enumerate(values)]


_TICK = timedelta(microseconds=1)


def _window(spec: MonitorSpec, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """``start`` must be a bucket start; ``end`` is rounded down to one (a partial bucket is
    never read)."""
    start = utc_bucket(start, spec.resolution)
    if end.tzinfo is None:
        raise MonitorError("times must be timezone-aware", at=end.isoformat(),
                           hint="use datetime.UTC")
    end = floor_bucket(end, spec.resolution)
    if end <= start:
        raise MonitorError("the series window is empty", start=start.isoformat(),
                           end=end.isoformat(), hint="end must be a bucket after start")
    return start, end


def _literal(value: Param) -> exp.Expr:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise MonitorError("times must be timezone-aware", at=value.isoformat())
        return exp.Literal.string(value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"))
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise MonitorError(f"cannot bind a {type(value).__name__}")
    return exp.Literal.string(value) if isinstance(value, str) else exp.Literal.number(value)
