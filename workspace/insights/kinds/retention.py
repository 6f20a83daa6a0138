"""Retention: calendar-period cohorts by first start event, the share returning per period;
its model, its SQL.

A return counts at or after the user's first start event (so with the same event for both,
period 0 is 100 %). Periods that begin after the range ends are left out, not shown as 0.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

from pydantic import Field
from sqlglot import exp

from workspace.insights._fields import (
    DateRange,
    EventName,
    Filter,
    event_expr,
    filters_expr,
    range_expr,
)
from workspace.insights._kind import InsightKind, InsightModel
from workspace.insights._sql import and_, lit, sql, timestamp, with_ctes


class Retention(InsightModel):
    """Cohorts by the period of each user's first start_event in the range; for period n,
    the share of the cohort that did return_event in the n-th period after (calendar periods,
    period 0 = the cohort's own). Result columns: cohort, period, cohort_size, users,
    retention."""

    kind: Literal["retention"] = "retention"
    start_event: EventName | None = Field(None, description="null = any event")
    return_event: EventName | None = Field(None, description="null = any event")
    period: Literal["day", "week", "month"] = "week"
    periods: int = Field(8, ge=1, le=52, description="periods after the cohort's to show")
    date_range: DateRange
    filters: list[Filter] = Field(default_factory=list, max_length=20)


_UNITS = ("day", "week", "month")


def retention(insight: Retention, today: date) -> exp.Expr:
    unit = insight.period
    assert unit in _UNITS
    _, last = insight.date_range.resolve(today)
    starts = and_([range_expr(insight.date_range, today), *event_expr(insight.start_event),
                   *filters_expr(insight.filters)])
    returns = and_([range_expr(insight.date_range, today, "e"),
                    *event_expr(insight.return_event, "e"), *filters_expr(insight.filters, "e")])
    periods = exp.Values(
        expressions=[exp.Tuple(expressions=[lit(n)]) for n in range(insight.periods + 1)],
        alias=exp.TableAlias(this=exp.to_identifier("p"),
                             columns=[exp.to_identifier("period")]),
    )
    ctes: list[tuple[str, exp.Expr]] = [
        ("firsts", sql("SELECT user_id, min(event_time) AS first_time FROM events "
                       "WHERE user_id IS NOT NULL AND :cond GROUP BY user_id", {"cond": starts})),
        ("cohorts", sql(f"SELECT user_id, first_time, date_trunc('{unit}', first_time) AS cohort "
                        "FROM firsts")),
        ("sizes", sql("SELECT cohort, count(*) AS cohort_size FROM cohorts GROUP BY cohort")),
        # A user returned in a period if their last return event in it is at or after their
        # first start event: one row per user and period joins the cohorts, not every event.
        ("buckets", sql(
            f"SELECT e.user_id, date_trunc('{unit}', e.event_time) AS bucket, "
            "max(e.event_time) AS last_time FROM events AS e "
            "WHERE e.user_id IS NOT NULL AND :cond GROUP BY e.user_id, "
            f"date_trunc('{unit}', e.event_time)", {"cond": returns})),
        ("returns", sql(
            f"SELECT c.cohort, c.user_id, date_diff('{unit}', c.cohort, b.bucket) AS period "
            "FROM cohorts AS c JOIN buckets AS b ON b.user_id = c.user_id "
            "WHERE b.last_time >= c.first_time")),
        ("active", sql("SELECT cohort, period, count(*) AS users FROM returns "
                       "WHERE period <= :n GROUP BY cohort, period", {"n": insight.periods})),
        ("grid", exp.select("s.cohort", "s.cohort_size", "p.period")
            .from_(exp.alias_(exp.table_("sizes"), "s", table=True))
            .join(periods, join_type="CROSS")
            .where(sql(f"date_add('{unit}', p.period, s.cohort) < :end",
                       {"end": timestamp(last + timedelta(days=1))}))),
    ]
    final = sql(
        "SELECT g.cohort, g.period, g.cohort_size, coalesce(a.users, 0) AS users, "
        "CAST(coalesce(a.users, 0) AS DOUBLE) / g.cohort_size AS retention FROM grid AS g "
        "LEFT JOIN active AS a ON a.cohort = g.cohort AND a.period = g.period "
        "ORDER BY g.cohort, g.period")
    return with_ctes(ctes, final)


def describe(insight: Retention) -> str:
    return (f"Retention by {insight.period}: {insight.start_event or 'any event'} then "
            f"{insight.return_event or 'any event'}")


KIND = InsightKind(model=Retention, compile=retention, describe=describe, order=30)
