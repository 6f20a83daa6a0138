"""Funnel: ordered steps and the users who convert through them; its model, its SQL.

Each user's anchor is their first step-1 event in the range (ties broken by event_id). Step
k is the earliest step-k event strictly after the user's step k-1 and no later than anchor +
window; taking the earliest match at each step is what keeps later steps possible, so this
finds a conversion whenever any ordered sequence exists. All steps lie in the date range.
The median time to convert is exact: the middle value(s) by row number, no approximation.
Step numbers become column names (``d_2``, ``users_3``); no input text reaches the template.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field
from sqlglot import exp

from workspace.insights._fields import (
    OTHER_LABEL,
    Breakdown,
    DateRange,
    EventName,
    Filter,
    _Model,
    breakdown_expr,
    event_expr,
    filters_expr,
    range_expr,
)
from workspace.insights._kind import InsightKind, InsightModel
from workspace.insights._sql import and_, lit, sql, with_ctes


class FunnelStep(_Model):
    event: EventName = Field(description="event_type of this step")
    filters: list[Filter] = Field(default_factory=list, max_length=10)


class Funnel(InsightModel):
    """Ordered steps. A user converts at step k after doing steps 1..k in order, each after
    the previous one, all within the window from their first step-1 event in the range.
    Result columns: [breakdown], step, event, users, conversion_from_first,
    conversion_from_previous, median_seconds_to_convert (from the previous step)."""

    kind: Literal["funnel"] = "funnel"
    steps: list[FunnelStep] = Field(min_length=2, max_length=10)
    window: int = Field(14, ge=1, le=10_000, description="conversion window length")
    window_unit: Literal["minute", "hour", "day", "week"] = "day"
    date_range: DateRange
    filters: list[Filter] = Field(default_factory=list, max_length=20,
                                  description="apply to every step")
    breakdown: Breakdown | None = Field(None, description="value at the user's first step")


_SECONDS = {"minute": 60, "hour": 3600, "day": 86_400, "week": 7 * 86_400}


def funnel(insight: Funnel, today: date) -> exp.Expr:
    n = len(insight.steps)
    window_s = insight.window * _SECONDS[insight.window_unit]
    ctes: list[tuple[str, exp.Expr]] = [
        ("first_events", _first_events(insight, today)),
        ("step_1", sql("SELECT user_id, event_time AS t1, event_time AS t, breakdown_raw "
                       "FROM first_events" + (" WHERE rn = 1" if insight.breakdown else ""))),
    ]
    for k, step in enumerate(insight.steps[1:], start=2):
        ctes.append((f"step_{k}", _next_step(insight, step, k, window_s, today)))
    # One row per user, then one pass of window functions and one aggregate per breakdown:
    # engines that inline CTEs (Trino) would otherwise rescan the chain for every step.
    ctes += [
        ("top_breakdowns", _top_breakdowns(insight)),
        ("journeys", _journeys(n)),
        ("ranked", _ranked(n)),
        ("per_group", _per_group(n)),
        ("steps", exp.select("*").from_(_step_values(insight))),
        ("stats", _stats(n)),
    ]
    columns = "breakdown, " if insight.breakdown else ""
    final = sql(
        f"SELECT {columns}step, event, users, "
        "CAST(users AS DOUBLE) / nullif(first_value(users) OVER (PARTITION BY breakdown "
        "ORDER BY step), 0) AS conversion_from_first, "
        "CASE WHEN step = 1 THEN CAST(users AS DOUBLE) / nullif(users, 0) "
        "ELSE CAST(users AS DOUBLE) / nullif(lag(users) OVER (PARTITION BY breakdown "
        "ORDER BY step), 0) END AS conversion_from_previous, "
        "median_seconds AS median_seconds_to_convert "
        f"FROM stats ORDER BY {columns}step")
    return with_ctes(ctes, final)


def _step_where(insight: Funnel, step: FunnelStep, today: date, table: str | None) -> exp.Expr:
    return and_([range_expr(insight.date_range, today, table), *event_expr(step.event, table),
                 *filters_expr(step.filters, table), *filters_expr(insight.filters, table)])


def _first_events(insight: Funnel, today: date) -> exp.Expr:
    cond = _step_where(insight, insight.steps[0], today, None)
    if not insight.breakdown:  # only the time of the first event matters: an aggregate
        return sql(  # (a third faster than numbering every step-1 event)
            "SELECT user_id, min(event_time) AS event_time, CAST(:all AS VARCHAR) AS "
            "breakdown_raw FROM events WHERE user_id IS NOT NULL AND :cond GROUP BY user_id",
            {"all": "all", "cond": cond})
    return sql(  # the label is the first event's (ties broken by event_id)
        "SELECT user_id, event_time, :label AS breakdown_raw, row_number() OVER "
        "(PARTITION BY user_id ORDER BY event_time, event_id) AS rn "
        "FROM events WHERE user_id IS NOT NULL AND :cond",
        {"label": breakdown_expr(insight.breakdown), "cond": cond},
    )


def _next_step(insight: Funnel, step: FunnelStep, k: int, window_s: int,
               today: date) -> exp.Expr:
    previous = exp.to_identifier(f"step_{k - 1}")
    query = sql(
        "SELECT p.user_id, p.t1, min(e.event_time) AS t FROM previous_step AS p "
        "JOIN events AS e ON e.user_id = p.user_id "
        "WHERE e.event_time > p.t AND e.event_time <= date_add('second', :window, p.t1) "
        "AND :cond GROUP BY p.user_id, p.t1",
        {"window": window_s, "cond": _step_where(insight, step, today, "e")},
    )
    source = query.find(exp.Table)
    assert source is not None
    source.set("this", previous)
    return query


def _top_breakdowns(insight: Funnel) -> exp.Expr:
    limit = insight.breakdown.limit if insight.breakdown else 1
    return sql("SELECT breakdown_raw FROM step_1 GROUP BY breakdown_raw "
               "ORDER BY count(*) DESC, breakdown_raw LIMIT :n", {"n": limit})


def _journeys(n_steps: int) -> exp.Expr:
    """Per user: the breakdown bucket and the seconds from each step to the next (or NULL)."""
    seconds = "".join(f", to_unixtime(s{k}.t) - to_unixtime(s{k - 1}.t) AS d_{k}"
                      for k in range(2, n_steps + 1))
    joins = " ".join(f"LEFT JOIN step_{k} AS s{k} ON s{k}.user_id = s1.user_id"
                     for k in range(2, n_steps + 1))
    return sql(
        "SELECT s1.user_id, CASE WHEN s1.breakdown_raw IN (SELECT breakdown_raw FROM "
        f"top_breakdowns) THEN s1.breakdown_raw ELSE :other END AS breakdown{seconds} "
        f"FROM step_1 AS s1 {joins}", {"other": OTHER_LABEL})


def _ranked(n_steps: int) -> exp.Expr:
    """Each duration's rank among the non-null ones of its breakdown, and their count."""
    windows = "".join(
        f", d_{k}, row_number() OVER (PARTITION BY breakdown ORDER BY d_{k} NULLS LAST) "
        f"AS rn_{k}, count(d_{k}) OVER (PARTITION BY breakdown) AS cnt_{k}"
        for k in range(2, n_steps + 1))
    return sql(f"SELECT breakdown{windows} FROM journeys")


def _per_group(n_steps: int) -> exp.Expr:
    """Users per step and the exact median duration (the middle one or two by rank)."""
    parts = "".join(
        f", count(d_{k}) AS users_{k}, avg(CASE WHEN 2 * rn_{k} BETWEEN cnt_{k} AND "
        f"cnt_{k} + 2 THEN d_{k} END) AS median_{k}"
        for k in range(2, n_steps + 1))
    return sql(f"SELECT breakdown, count(*) AS users_1{parts} FROM ranked GROUP BY breakdown")


def _stats(n_steps: int) -> exp.Expr:
    users = " ".join(f"WHEN {k} THEN g.users_{k}" for k in range(1, n_steps + 1))
    medians = " ".join(f"WHEN {k} THEN g.median_{k}" for k in range(2, n_steps + 1))
    return sql(f"SELECT g.breakdown, s.step, s.event, CASE s.step {users} END AS users, "
               f"CASE s.step {medians} END AS median_seconds "
               "FROM per_group AS g CROSS JOIN steps AS s")


def _step_values(insight: Funnel) -> exp.Expr:
    rows = [(lit(k), lit(step.event)) for k, step in enumerate(insight.steps, start=1)]
    return exp.Values(
        expressions=[exp.Tuple(expressions=list(row)) for row in rows],
        alias=exp.TableAlias(this=exp.to_identifier("v"),
                             columns=[exp.to_identifier("step"), exp.to_identifier("event")]),
    )


def describe(insight: Funnel) -> str:
    steps = " → ".join(step.event for step in insight.steps)
    unit = insight.window_unit + ("" if insight.window == 1 else "s")
    by = f", by {insight.breakdown.field}" if insight.breakdown else ""
    return f"Funnel {steps} within {insight.window} {unit}{by}"


KIND = InsightKind(model=Funnel, compile=funnel, describe=describe, order=20)
