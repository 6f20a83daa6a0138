"""Stickiness → SQL: users by the number of distinct days (UTC) they were active."""

from __future__ import annotations

from datetime import date

from sqlglot import exp

from workspace.insights._fields import event_expr, filters_expr, range_expr
from workspace.insights._sql import and_, sql, with_ctes
from workspace.insights.models import Stickiness


def stickiness(insight: Stickiness, today: date) -> exp.Expr:
    where = and_([range_expr(insight.date_range, today), *event_expr(insight.event),
                  *filters_expr(insight.filters)])
    per_user = sql("SELECT user_id, count(DISTINCT dt) AS days_active FROM events "
                   "WHERE user_id IS NOT NULL AND :cond GROUP BY user_id", {"cond": where})
    final = sql("SELECT days_active, count(*) AS users, CAST(count(*) AS DOUBLE) / "
                "(SELECT count(*) FROM per_user) AS share FROM per_user GROUP BY days_active "
                "ORDER BY days_active")
    return with_ctes([("per_user", per_user)], final)
