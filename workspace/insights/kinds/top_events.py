"""Top events: event types by count, with their unique users; the model, its SQL."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field
from sqlglot import exp

from workspace.insights._fields import DateRange, Filter, filters_expr, range_expr
from workspace.insights._kind import InsightKind, InsightModel
from workspace.insights._sql import and_, sql


class TopEvents(InsightModel):
    """The most frequent event types. Result columns: event_type, events, users."""

    kind: Literal["top_events"] = "top_events"
    limit: int = Field(10, ge=1, le=100)
    date_range: DateRange
    filters: list[Filter] = Field(default_factory=list, max_length=20)


def top_events(insight: TopEvents, today: date) -> exp.Expr:
    where = and_([range_expr(insight.date_range, today), *filters_expr(insight.filters)])
    return sql(
        "SELECT event_type, count(*) AS events, count(DISTINCT user_id) AS users FROM events "
        "WHERE :cond GROUP BY event_type ORDER BY events DESC, event_type LIMIT :n",
        {"cond": where, "n": insight.limit},
    )


def describe(insight: TopEvents) -> str:
    return f"Top {insight.limit} events"


KIND = InsightKind(model=TopEvents, compile=top_events, describe=describe, order=40)
