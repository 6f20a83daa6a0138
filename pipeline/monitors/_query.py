"""A monitor's series from the warehouse: the SQL (Trino, the canonical dialect) and its run.

:func:`series_sql` compiles a spec into one aggregate over ``events`` with ``?`` placeholders
for every value (app, times, event type, property value); only the JSON path of a validated
key path is part of the text, in Trino's bracket form, which sqlglot rewrites for DuckDB.
The :class:`~warehouse.engines.Engine` protocol takes SQL text only, so :func:`read_series`
binds the values itself, each rendered as a literal by sqlglot (quoted and escaped), never
pasted by hand. The ``dt`` partition bounds let both engines prune to the days asked for.

Each query costs a fixed planning and file-listing time whatever the data, so
:func:`read_grouped` reads many monitors of one app and resolution at once: each metric is one
aggregate column with its own ``FILTER (WHERE …)`` (:func:`grouped_sql`, valid in both Trino
and DuckDB), over the union of their windows, then sliced per monitor.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlglot import exp

from pipeline.monitors._baseline import floor_bucket, utc_bucket
from pipeline.monitors._policy import MonitorError, Resolution
from pipeline.monitors._spec import MonitorSpec, check_key_path
from warehouse.engines import Engine, EngineError

log = logging.getLogger(__name__)

QUERY_TIMEOUT_S = 120.0
MAX_GROUP_COLUMNS = 50  # monitors per grouped query: wide enough to share, narrow to plan
K = TypeVar("K", bound=Hashable)
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
    value, conditions, narrow = _metric(spec)
    where, params = _scope(spec.app_id, start, end)
    sql = (f"SELECT {_TRUNC[spec.resolution]} AS bucket, {value} AS value FROM events "
           f"WHERE {' AND '.join(where + conditions)} GROUP BY 1 ORDER BY 1")
    return sql, params + narrow


def grouped_sql(specs: Sequence[MonitorSpec], start: datetime, end: datetime
                ) -> tuple[str, list[Param]]:
    """SQL for ``(bucket, v0, v1, …)`` rows: column ``v{i}`` is ``specs[i]``'s metric, each an
    aggregate with its own ``FILTER``, over ``[start, end)`` of their one app and resolution."""
    first = specs[0]
    if any((s.app_id, s.resolution) != (first.app_id, first.resolution) for s in specs):
        raise MonitorError("grouped monitors must share app and resolution")
    start, end = _window(first, start, end)
    columns, params = [], []
    for i, spec in enumerate(specs):
        value, conditions, narrow = _metric(spec)
        if conditions and spec.metric == "users":  # Presto once refused DISTINCT with FILTER
            value = f"count(DISTINCT CASE WHEN {' AND '.join(conditions)} THEN user_id END)"
        elif conditions:
            value += f" FILTER (WHERE {' AND '.join(conditions)})"
        columns.append(f"{value} AS v{i}")
        params += narrow
    where, scope = _scope(first.app_id, start, end)
    sql = (f"SELECT {_TRUNC[first.resolution]} AS bucket, {', '.join(columns)} FROM events "
           f"WHERE {' AND '.join(where)} GROUP BY 1 ORDER BY 1")
    return sql, params + scope


def bind(sql: str, params: list[Param]) -> str:
    """``sql`` with each ``?`` replaced by its value as a sqlglot-rendered Trino literal.

    Only for SQL built here (or as here), whose text has no ``?`` but its placeholders.
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
    rows = _run(engine, bind(sql, params), _buckets(spec, start, end) + 1, spec.app_id)
    return _fill(rows, "value", spec, start, end)


def read_grouped(engine: Engine, reads: Mapping[K, tuple[MonitorSpec, datetime, datetime]],
                 max_columns: int = MAX_GROUP_COLUMNS) -> dict[K, SeriesRows]:
    """The series of many monitors, as :func:`read_series` gives each, read with one query
    per app, resolution and window end (and per ``max_columns`` monitors) over the union of
    their windows.

    A read that cannot share a query is left out (its window is invalid, or its group's query
    failed): read it with :func:`read_series`, which reports its own error.
    """
    groups: dict[tuple[str, Resolution, datetime], list[tuple[K, MonitorSpec, datetime]]] = {}
    for key, (spec, start, end) in reads.items():
        try:
            start, end = _window(spec, start, end)
        except MonitorError:
            continue
        groups.setdefault((spec.app_id, spec.resolution, end), []).append((key, spec, start))
    out: dict[K, SeriesRows] = {}
    for (app_id, _, end), members in groups.items():
        for at in range(0, len(members), max_columns):
            chunk = members[at:at + max_columns]
            start = min(s for _, _, s in chunk)
            sql, params = grouped_sql([spec for _, spec, _ in chunk], start, end)
            try:
                rows = _run(engine, bind(sql, params), _buckets(chunk[0][1], start, end) + 1,
                            app_id)
            except MonitorError as exc:
                log.warning("grouped read of %s monitors of %s failed, reading them one by "
                            "one: %s", len(chunk), app_id, exc)
                continue
            for i, (key, spec, own_start) in enumerate(chunk):
                out[key] = _fill(rows, f"v{i}", spec, own_start, end)
    return out


def _metric(spec: MonitorSpec) -> tuple[str, list[str], list[Param]]:
    """The spec's aggregate, its narrowing conditions and their values."""
    if spec.metric == "sum":
        assert spec.property is not None  # the spec's own check
        path = json_path(spec.property)
        value = f"sum(TRY_CAST(json_extract_scalar(properties, '{path}') AS DOUBLE))"
    else:
        value = _AGGREGATE[spec.metric]
    conditions: list[str] = []
    params: list[Param] = []
    if spec.event_type is not None:
        conditions.append("event_type = ?")
        params.append(spec.event_type)
    if spec.breakdown is not None:
        conditions.append(
            f"json_extract_scalar(properties, '{json_path(spec.breakdown.key)}') = ?")
        params.append(spec.breakdown.value)
    return value, conditions, params


def _scope(app_id: str, start: datetime, end: datetime) -> tuple[list[str], list[Param]]:
    """One app's events in ``[start, end)``; the ``dt`` bounds let both engines prune."""
    where = ["app_id = ?", "dt >= ?", "dt <= ?",
             "event_time >= CAST(? AS TIMESTAMP)", "event_time < CAST(? AS TIMESTAMP)"]
    return where, [app_id, f"{start:%Y-%m-%d}", f"{end - _TICK:%Y-%m-%d}", start, end]


def _run(engine: Engine, sql: str, max_rows: int, app_id: str) -> list[dict[str, Any]]:
    try:
        result = engine.run(sql, max_rows, QUERY_TIMEOUT_S)
    except EngineError as exc:
        raise MonitorError(f"the monitor's series could not be read: {exc.message}",
                           code="series_unavailable", hint=exc.hint or "try again later",
                           app_id=app_id) from None
    rows: list[dict[str, Any]] = result.table.to_pylist()
    return rows


def _buckets(spec: MonitorSpec, start: datetime, end: datetime) -> int:
    return int((end - start) / spec.resolution.step)


def _fill(rows: list[dict[str, Any]], column: str, spec: MonitorSpec, start: datetime,
          end: datetime) -> SeriesRows:
    """``column``'s value for every bucket of ``[start, end)``, 0 where there is no row."""
    width = spec.resolution.step
    values = [0.0] * _buckets(spec, start, end)
    for row in rows:
        at = row["bucket"]
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
        i = int((at - start) / width)
        if 0 <= i < len(values) and row[column] is not None:
            values[i] = max(0.0, float(row[column]))  # a monitor watches non-negative amounts
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
