"""Trend → SQL: one aggregate per time bucket, optionally per breakdown value."""

from __future__ import annotations

from datetime import date

from sqlglot import exp

from workspace.insights._fields import (
    OTHER_LABEL,
    breakdown_expr,
    event_expr,
    field_expr,
    filters_expr,
    number_expr,
    range_expr,
)
from workspace.insights._sql import and_, sql, with_ctes
from workspace.insights.models import Trend

# Units come from the model's closed enum; each maps to a constant template.
_TRUNC = {unit: f"date_trunc('{unit}', event_time)" for unit in ("hour", "day", "week", "month")}
_AGGREGATE = {
    "events": "count(*)",
    "users": "count(DISTINCT user_id)",
    "sum": "sum(v)",
    "avg": "avg(v)",
}


def trend(insight: Trend, today: date) -> exp.Expr:
    where = and_([range_expr(insight.date_range, today), *event_expr(insight.event),
                  *filters_expr(insight.filters)])
    value = (number_expr(field_expr(f"properties.{insight.property}"))
             if insight.property else sql("CAST(NULL AS DOUBLE)"))
    aggregate = _AGGREGATE[insight.measure]
    period = _TRUNC[insight.interval]
    label = breakdown_expr(insight.breakdown) if insight.breakdown else sql("CAST(NULL AS VARCHAR)")
    base = sql(
        f"SELECT {period} AS period, :breakdown AS breakdown, user_id, :v AS v "
        "FROM events WHERE :cond",
        {"breakdown": label, "v": value, "cond": where},
    )
    if insight.breakdown is None:
        final = sql(f"SELECT period, {aggregate} AS value FROM base GROUP BY 1 ORDER BY 1")
        return with_ctes([("base", base)], final)
    ranked = sql(
        f"SELECT breakdown FROM base GROUP BY breakdown ORDER BY {aggregate} DESC, breakdown "
        "LIMIT :n",
        {"n": insight.breakdown.limit},
    )
    final = sql(
        "SELECT period, CASE WHEN breakdown IN (SELECT breakdown FROM ranked) THEN breakdown "
        f"ELSE :other END AS breakdown, {aggregate} AS value FROM base GROUP BY 1, 2 "
        "ORDER BY 1, 2",
        {"other": OTHER_LABEL},
    )
    return with_ctes([("base", base), ("ranked", ranked)], final)
