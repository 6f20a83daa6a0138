"""Stickiness: users by the number of distinct days (UTC) they were active; the model, its SQL."""

from __future__ import annotations

from datetime import date
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
from workspace.insights._sql import and_, sql, with_ctes


class Stickiness(InsightModel):
    """How many users were active on exactly n distinct days of the range.
    Result columns: days_active, users, share."""

    kind: Literal["stickiness"] = "stickiness"
    event: EventName | None = Field(None, description="event_type that counts; null = any")
    date_range: DateRange
    filters: list[Filter] = Field(default_factory=list, max_length=20)


def stickiness(insight: Stickiness, today: date) -> exp.Expr:
    where = and_([range_expr(insight.date_range, today), *event_expr(insight.event),
                  *filters_expr(insight.filters)])
    per_user = sql("SELECT user_id, count(DISTINCT dt) AS days_active FROM events "
                   "WHERE user_id IS NOT NULL AND :cond GROUP BY user_id", {"cond": where})
    final = sql("SELECT days_active, count(*) AS users, CAST(count(*) AS DOUBLE) / "
                "(SELECT count(*) FROM per_user) AS share FROM per_user GROUP BY days_active "
                "ORDER BY days_active")
    return with_ctes([("per_user", per_user)], final)


def describe(insight: Stickiness) -> str:
    return f"Days active per user, counting {insight.event or 'any event'}"


KIND = InsightKind(model=Stickiness, compile=stickiness, describe=describe, order=50)
