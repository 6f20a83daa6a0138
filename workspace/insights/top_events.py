"""TopEvents → SQL: event types by count, with their unique users."""

from __future__ import annotations

from datetime import date

from sqlglot import exp

from workspace.insights._fields import filters_expr, range_expr
from workspace.insights._sql import and_, sql
from workspace.insights.models import TopEvents


def top_events(insight: TopEvents, today: date) -> exp.Expr:
    where = and_([range_expr(insight.date_range, today), *filters_expr(insight.filters)])
    return sql(
        "SELECT event_type, count(*) AS events, count(DISTINCT user_id) AS users FROM events "
        "WHERE :cond GROUP BY event_type ORDER BY events DESC, event_type LIMIT :n",
        {"cond": where, "n": insight.limit},
    )
