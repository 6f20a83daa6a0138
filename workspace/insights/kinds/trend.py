"""Trend: a measure per time interval, optionally per breakdown value; its model, its SQL."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, field_validator, model_validator
from sqlglot import exp

from workspace.insights._fields import (
    OTHER_LABEL,
    Breakdown,
    DateRange,
    EventName,
    Filter,
    breakdown_expr,
    check_key,
    event_expr,
    field_expr,
    filters_expr,
    number_expr,
    range_expr,
)
from workspace.insights._kind import InsightKind, InsightModel
from workspace.insights._sql import and_, sql, with_ctes

Interval = Literal["hour", "day", "week", "month"]
#: Each measure as people say it (the Insights page offers these).
MEASURES = {"events": "Number of events", "users": "Unique users",
            "sum": "Sum of a property", "avg": "Average of a property"}


class Trend(InsightModel):
    """A measure per time interval: events, unique users, or the sum/average of a numeric
    property, optionally split by a breakdown (top N values plus "other").
    Result columns: period, [breakdown], value."""

    kind: Literal["trend"] = "trend"
    event: EventName | None = Field(None, description="event_type to measure; null = all")
    measure: Literal["events", "users", "sum", "avg"] = "events"
    property: str | None = Field(None, description="properties key to sum/average, e.g. revenue")
    interval: Interval = "day"
    date_range: DateRange
    filters: list[Filter] = Field(default_factory=list, max_length=20)
    breakdown: Breakdown | None = None

    @field_validator("property")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        return None if value is None else check_key(value)

    @model_validator(mode="after")
    def _property_for_sum(self) -> Trend:
        if self.measure in ("sum", "avg") and self.property is None:
            raise ValueError(f"measure {self.measure} needs property (a numeric properties key)")
        if self.measure in ("events", "users") and self.property is not None:
            raise ValueError(f"measure {self.measure} takes no property")
        return self


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


def describe(insight: Trend) -> str:
    what = MEASURES[insight.measure].lower()
    if insight.property:
        what += f" {insight.property}"
    by = f", by {insight.breakdown.field}" if insight.breakdown else ""
    return f"{what.capitalize()} of {insight.event or 'all events'} per {insight.interval}{by}"


KIND = InsightKind(model=Trend, compile=trend, describe=describe, order=10)
